"""Shared helpers of the security tests: the adversarial corpus and the hostile packs."""
