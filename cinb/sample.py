"""Deterministic generator of the embedded sample portfolio (a fictional London borough).

Run ``python -m cinb.sample`` to rewrite ``cinb/data/sample/``; the files are committed so that a fresh
install has data to show. Every name is invented: the borough, the suppliers and the people do not exist.

The portfolio is built to exercise every analysis: noisy series, a step improvement after a delivered
initiative, a slow decline, CI commitments (some well defined, some vague), restatements, missing months,
months reported empty, initiatives in every status and one contract close to its end date.

It also carries the KPI regimes of version 2 of the data contract (docs/data-contract.md):

* **volumes** on the service desk contract (NB-SD-001): first-time fix rate over the incidents resolved,
  calls answered within 30 seconds and abandoned calls over the calls offered (seasonal monthly volumes, in the
  hundreds to thousands), with ``volume_unit`` on the KPI;
* **a month with no activity**: the application support contract's (NB-APP-007) "Priority 1 incidents resolved
  within 4 hours" (P1FIX4) is a percentage of a handful of P1 incidents a month, with their number as its volume;
  in June 2026 there was none (``volume`` 0, no value, a note);
* **a quarterly KPI**: NB-HOST-002's "Disaster recovery tests passed" (DRTEST), recorded against the quarter's
  last month (March, June, September, December) only. The sample's review month, October 2026, is not one of its
  due months, so the October packs show it as "not due";
* **a KPI added by a contract variation**: NB-NET-003 (begun in 2020) gained "Network devices meeting the security
  baseline" (NETSEC) from January 2026 (``start_period``), with values from that month only and one restatement;
* supplier **notes** that explain a figure (a major outage, a restatement after a root-cause review);
* **credit schedules as contracts write them**: NB-HOST-002's availability (AVAIL) earns 0.5 % of the charge for
  each percentage point short of its target (the CCS model's rate per point, ``credit_pct`` with ``shortfall``)
  and its cap of 10 % is counted over the contract year (``service_credit_cap_period``); the parking permits
  contract (NB-PARK-013) started on 15 April 2025, so April 2025 is a part month (16/30 of its charge), its
  availability (PKAV) is ``banded`` (`CREDIT_BANDS`: 5 % up to 1 point short, 10 % above 1, 15 % from 5) and a
  contract-wide critical-failure rule (`CRITICAL_FAILURE_RULES`: 2 months at the critical level in any 3,
  suppressing that month's credits) fires once, in April 2026 (P1LATE critical in February and April);
* **a recorded process change** (`PROCESS_CHANGES`): NB-SD-001's first-time fix rate (FTF) from March 2025, when
  the knowledge base rebuild of initiative CI-001 went live, so its control chart is rebased there;
* **records behind two KPIs** (`cinb.sample_records`): a synthetic incident export of NB-SD-001's service desk
  (``records/service_desk_tickets.csv``, July to October 2026) and the runnable definitions of its FTF and P1RES
  (``derive.yml``); the measurements end with the figures ``cinb derive`` computes from them (``origin`` derived,
  as of 1 November 2026), which differ from the supplier's reported figures in three months, so the packs show a
  reconciliation.

Columns a table does not use stay empty. The version-2 KPIs (NB-PARK-013's among them) and the volumes draw their
random numbers from generators of their own (``seed + offset``), so every figure of the version-1 KPIs is exactly
what it was before version 2 was added to the sample.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .config import SAMPLE_DIR
from .derive import derive
from .sample_records import AS_OF, DEFINITIONS_TEXT, RECORDS_FILE, tickets

AUTHORITY = "London Borough of Northbridge"
FIRST_PERIOD = pd.Period("2023-11", "M")
LAST_PERIOD = pd.Period("2026-10", "M")
SEED = 20261031

SUPPLIERS = {
    "meridian": ("Meridian Service Desk Ltd", "SC900101"),
    "kestrel": ("Kestrel Cloud Hosting Ltd", "09900202"),
    "harbourline": ("Harbourline Networks Ltd", "09900303"),
    "quillon": ("Quillon Software Ltd", "09900404"),
    "tamesis": ("Tamesis Data Systems Ltd", "09900505"),
    "arclight": ("Arclight Digital Services Ltd", "09900606"),
    "calloway": ("Calloway Civic Systems Ltd", "09900707"),
}


@dataclass
class K:
    """A KPI template and the behaviour of its series."""

    kpi_id: str
    name: str
    unit: str
    direction: str
    sla: float | None
    target: float | None
    critical: float | None
    level: float  # typical value at the start
    noise: float  # standard deviation of month-to-month noise
    description: str | None = None
    credit_method: str = "none"
    credit_pct: float | None = None
    tolerance: float | None = None
    weight: float = 1.0
    statutory: bool = False
    drift: float = 0.0  # change per month
    step: tuple[str, float] | None = None  # (first month, change) of a step change
    decimals: int = 1
    lo: float | None = 0.0
    hi: float | None = None
    commitment: dict = field(default_factory=dict)
    data_source: str | None = None
    owner: str | None = None
    agreed: str | None = None
    # Version 2 of the data contract.
    frequency: str | None = None  # monthly (empty), quarterly or annual
    start_period: str | None = None  # first month in force (a KPI added by a contract variation)
    volume_unit: str | None = None  # what the monthly volume counts
    volumes: str | None = None  # key of VOLUME_SERIES: the monthly volumes the values were measured over
    binomial: bool = False  # a % of a few items: value = share of `volume` items that passed (level = pass rate)
    rng_offset: int | None = None  # draw from default_rng(seed + rng_offset), not the generator v1 KPIs share


def _pct(kpi_id, name, sla, target, critical, level, noise, direction="higher", **kw):
    kw.setdefault("hi", 100.0)
    return K(kpi_id, name, "%", direction, sla, target, critical, level, noise, **kw)


CONTRACTS = [
    dict(
        contract_id="NB-SD-001", title="Service desk and end-user support", supplier="meridian",
        category="Service desk", start_date="2022-04-01", end_date="2028-03-31", notice_period_days=180,
        annual_value_gbp=2_450_000, service_credit_cap_pct=12, contract_manager="Priya Lindqvist",
        procurement_id="NB-PROC-2021-014",
        kpis=[
            _pct("FTF", "First-time fix rate", 68, 72, 60, 67.5, 1.6, step=("2025-03", 6.0), statutory=True,
                 volume_unit="incidents", volumes="sd_incidents",
                 description="Share of incidents resolved at first contact by the service desk, from the ITSM tool",
                 commitment=dict(baseline=67.5, baseline_period="2023-11", ci_target=75, ci_target_date="2026-12"),
                 data_source="ITSM monthly extract", owner="Service desk manager", agreed="2023-10-12"),
            _pct("ANS30", "Calls answered within 30 seconds", 85, 90, 75, 88.0, 2.2, credit_method="fixed",
                 volume_unit="calls", volumes="sd_calls",
                 credit_pct=2.0, statutory=True, description="Calls answered by an agent within 30 seconds of queueing",
                 data_source="Telephony platform", owner="Service desk manager", agreed="yes"),
            K("P1RES", "Priority 1 incident resolution time", "hours", "lower", 6, 4, 8, 4.6, 0.7,
              description="Mean elapsed hours from logging to resolution of priority 1 incidents", statutory=True,
              commitment=dict(baseline=4.8, baseline_period="2024-04", ci_annual_uplift_pct=5),
              data_source="ITSM monthly extract", owner="Head of IT operations", agreed="2024-03-20"),
            K("CSAT", "User satisfaction", "score", "higher", 4.0, 4.3, 3.5, 4.15, 0.08, decimals=2, hi=5.0,
              description="Mean post-ticket survey score on a 1-5 scale", data_source="Survey tool", agreed="yes"),
            K("AGED", "Open tickets older than 30 days", "count", "lower", 60, 40, 100, 52, 6.0, drift=-0.4,
              decimals=0, description="Open tickets at month end older than 30 days"),
            _pct("ABND", "Abandoned call rate", None, 5, 12, 5.5, 0.9, tolerance=1.5, direction="lower",
                 description="Inbound calls abandoned after 10 seconds in the queue",
                 volume_unit="calls", volumes="sd_calls"),
        ],
    ),
    dict(
        contract_id="NB-HOST-002", title="Data centre hosting and backup", supplier="kestrel", category="Hosting",
        start_date="2021-07-01", end_date="2027-06-30", notice_period_days=270, annual_value_gbp=1_820_000,
        service_credit_cap_pct=10, contract_manager="Tomasz Achebe", procurement_id="NB-PROC-2020-031",
        # Version 2: the cap is 10 % of the contract year's charges, credits accumulating until it is reached.
        service_credit_cap_period="contract_year",
        kpis=[
            # Version 2: the CCS model's rate, 0.5 % of the charge for each percentage point under the target.
            _pct("AVAIL", "Service availability", 99.5, 99.9, 99.0, 99.93, 0.05, credit_method="shortfall",
                 credit_pct=0.5, decimals=2, statutory=True, description="Minutes available / minutes in month, excluding agreed maintenance",
                 data_source="Monitoring platform", owner="Infrastructure lead", agreed="2021-06-01"),
            _pct("BACKUP", "Backup success rate", 98, 99.5, 95, 99.6, 0.3, decimals=2, statutory=True,
                 description="Scheduled backup jobs completed successfully", data_source="Backup console",
                 owner="Infrastructure lead", agreed="yes"),
            K("MTTR", "Mean time to restore", "hours", "lower", 4, 2, 8, 2.3, 0.35, statutory=True,
              description="Mean hours to restore service after a priority 1 or 2 outage",
              commitment=dict(baseline=2.4, baseline_period="2024-01", ci_target=1.8, ci_target_date="2026-06"),
              data_source="ITSM monthly extract", owner="Infrastructure lead", agreed="2023-12-01"),
            _pct("CHG", "Change success rate", 95, 98, 90, 97.0, 0.9, description="Changes implemented without incident"),
            _pct("PATCH", "Security patches applied within 14 days", 90, 95, 80, 93.0, 1.8),
            # Version 2: a quarterly KPI, recorded against the last month of each quarter.
            _pct("DRTEST", "Disaster recovery tests passed", 90, 100, 75, 97.0, 3.5, frequency="quarterly",
                 rng_offset=2,
                 description="Share of the quarter's scheduled disaster recovery tests that met their recovery time "
                             "and recovery point objectives",
                 data_source="DR test reports", owner="Infrastructure lead", agreed="yes"),
        ],
    ),
    dict(
        contract_id="NB-NET-003", title="Wide area network and site connectivity", supplier="harbourline",
        category="Networks", start_date="2020-10-01", end_date="2027-09-30", notice_period_days=180,
        annual_value_gbp=1_150_000, service_credit_cap_pct=10, contract_manager="Tomasz Achebe",
        procurement_id="NB-PROC-2020-007",
        kpis=[
            _pct("NETAV", "Network availability", 99.8, 99.95, 99.5, 99.96, 0.03, credit_method="shortfall",
                 decimals=2, statutory=True, description="Core network availability measured by polling",
                 data_source="Network monitoring", owner="Network manager", agreed="yes"),
            _pct("FIXSLA", "Faults fixed within SLA", 90, 95, 80, 95.5, 1.1, drift=-0.28, statutory=True,
                 credit_method="fixed", credit_pct=3.0,
                 description="Site faults fixed within the contracted fix time", data_source="Supplier fault log",
                 owner="Network manager", agreed="yes"),
            K("LEAD", "New site installation lead time", "days", "lower", 45, 30, 60, 34, 4.0, decimals=0,
              description="Working days from order to live service for a new site",
              commitment=dict(ci_target=25), owner="Network manager"),
            K("NETSAT", "Site user satisfaction", "score", "higher", 3.8, 4.2, 3.2, 4.0, 0.1, decimals=2, hi=5.0),
            K("MAJOR", "Major network incidents", "count", "lower", 2, 0, 4, 0.8, 0.0, decimals=0),
            # Version 2: a KPI added by a contract variation in force from January 2026.
            _pct("NETSEC", "Network devices meeting the security baseline", 95, 98, 90, 94.0, 0.8, drift=0.45,
                 start_period="2026-01", rng_offset=3,
                 description="Share of managed routers and switches passing the authority's security configuration "
                             "baseline; added by contract variation 4 from January 2026",
                 data_source="Configuration compliance scanner", owner="Network manager", agreed="2025-12-10"),
        ],
    ),
    dict(
        contract_id="NB-SAAS-004", title="Revenues and benefits system", supplier="quillon", category="SaaS",
        start_date="2023-04-01", end_date="2030-03-31", notice_period_days=365, annual_value_gbp=980_000,
        service_credit_cap_pct=15, contract_manager="Amara Osei-Whitfield", procurement_id="NB-PROC-2022-044",
        kpis=[
            _pct("SYSAV", "System availability", 99.5, 99.8, 99.0, 99.85, 0.08, credit_method="shortfall",
                 decimals=2, statutory=True, description="Availability in core hours 07:00-20:00",
                 data_source="Supplier portal", owner="Revenues systems lead", agreed="2023-03-15"),
            _pct("BATCH", "Overnight batch completed on time", 97, 99, 92, 98.6, 0.9, statutory=True,
                 description="Overnight batch runs finished before 07:00", data_source="Supplier portal",
                 owner="Revenues systems lead", agreed="yes"),
            K("P2OPEN", "Open priority 2 defects", "count", "lower", 12, 6, 20, 9, 1.5, drift=-0.15, decimals=0,
              statutory=True, description="Open P2 defects at month end",
              commitment=dict(baseline=10, baseline_period="2024-01", ci_target=5, ci_target_date="2026-12"),
              data_source="Defect tracker", owner="Revenues systems lead", agreed="2024-02-01"),
            K("CPT", "Cost per transaction", "GBP", "lower", 0.60, 0.50, 0.80, 0.56, 0.02, decimals=3,
              description="Supplier charges divided by transactions processed",
              commitment=dict(baseline=0.56, baseline_period="2023-11", ci_annual_uplift_pct=3),
              data_source="Finance system", owner="Head of revenues", agreed="2023-10-30"),
            K("RSAT", "Staff satisfaction with the system", "score", "higher", 3.5, 4.0, 3.0, 3.7, 0.1, decimals=2,
              hi=5.0),
        ],
    ),
    dict(
        contract_id="NB-SAAS-005", title="Social care case management system", supplier="tamesis", category="SaaS",
        start_date="2022-01-01", end_date="2029-12-31", notice_period_days=365, annual_value_gbp=1_640_000,
        service_credit_cap_pct=12, contract_manager="Amara Osei-Whitfield", procurement_id="NB-PROC-2021-002",
        kpis=[
            _pct("CCAV", "System availability", 99.5, 99.9, 99.0, 99.82, 0.1, drift=-0.012, credit_method="shortfall",
                 decimals=2, statutory=True, description="Availability in the support window 24x7",
                 data_source="Supplier portal", owner="Social care systems lead", agreed="yes"),
            K("RESP", "Mean page response time", "minutes", "lower", 0.05, 0.03, 0.1, 0.032, 0.003, decimals=3,
              statutory=True, description="Mean server response time for case pages, in minutes",
              data_source="APM tool", owner="Social care systems lead", agreed="yes"),
            _pct("FIXT", "Defects fixed within target time", 85, 92, 75, 88, 2.5, statutory=True,
                 description="Defects resolved within the contracted fix time by priority",
                 commitment=dict(baseline=86, baseline_period="2024-04", ci_target=95, ci_target_date="2026-09"),
                 data_source="Defect tracker", owner="Social care systems lead", agreed="2024-05-01"),
            K("TRAIN", "Training sessions delivered", "count", "higher", 4, 6, 2, 5.5, 1.2, decimals=0),
            K("USAT", "Practitioner satisfaction", "score", "higher", 3.4, 3.8, 3.0, 3.5, 0.09, decimals=2, hi=5.0,
              description="Quarterly survey of practitioners, 1-5"),
            _pct("DATAQ", "Records passing data quality checks", 95, 98, 90, 96.2, 0.6, decimals=2,
                 commitment=dict(ci_annual_uplift_pct=1)),
        ],
    ),
    dict(
        contract_id="NB-CLOUD-006", title="Public cloud managed service", supplier="kestrel", category="Hosting",
        start_date="2023-09-01", end_date="2028-08-31", notice_period_days=180, annual_value_gbp=760_000,
        service_credit_cap_pct=10, contract_manager="Tomasz Achebe", procurement_id="NB-PROC-2023-011",
        kpis=[
            _pct("CLAV", "Platform availability", 99.9, 99.95, 99.5, 99.96, 0.02, credit_method="shortfall",
                 decimals=2, description="Availability of the managed landing zone", data_source="Cloud monitoring",
                 owner="Cloud lead", agreed="yes"),
            K("SPEND", "Cloud spend against forecast", "%", "lower", 105, 100, 115, 103, 2.0, hi=None, drift=-0.2,
              description="Actual spend as a share of the agreed monthly forecast",
              commitment=dict(baseline=103, baseline_period="2023-11", ci_target=97, ci_target_date="2026-10"),
              data_source="Billing export", owner="Cloud lead", agreed="2023-10-05"),
            _pct("RIGHT", "Rightsizing recommendations actioned", 60, 80, 40, 62, 5.0, drift=0.6,
                 description="Recommendations actioned within 30 days", owner="Cloud lead"),
            K("CLINC", "Security incidents", "count", "lower", 2, 0, 5, 0.5, 0.0, decimals=0),
            K("PROV", "Environment provisioning time", "hours", "lower", 24, 8, 48, 12, 1.5),
        ],
    ),
    dict(
        contract_id="NB-APP-007", title="Application support and maintenance", supplier="arclight",
        category="Application support", start_date="2022-10-01", end_date="2027-09-30", notice_period_days=120,
        annual_value_gbp=1_300_000, service_credit_cap_pct=10, contract_manager="Priya Lindqvist",
        procurement_id="NB-PROC-2022-019",
        kpis=[
            _pct("TKTSLA", "Tickets resolved within SLA", 90, 95, 80, 91.5, 1.4, credit_method="fixed", credit_pct=2.5,
                 statutory=True, description="Support tickets resolved within the priority fix time",
                 data_source="ITSM monthly extract", owner="Applications manager", agreed="yes"),
            K("BACKLOG", "Enhancement backlog", "count", "lower", 80, 50, 120, 74, 5.0, drift=0.5, decimals=0,
              statutory=True, description="Open enhancement requests at month end",
              data_source="Supplier report", owner="Applications manager", agreed="yes"),
            _pct("REL", "Releases without rollback", 92, 97, 85, 94, 2.0, statutory=True,
                 description="Production releases not rolled back within 7 days",
                 commitment=dict(baseline=94, baseline_period="2024-06"), agreed="no"),
            K("APPSAT", "Business user satisfaction", "score", "higher", 3.6, 4.0, 3.0, 3.75, 0.1, decimals=2, hi=5.0),
            K("DOCS", "Knowledge articles updated", "count", "higher", 10, 20, 5, 14, 3.0, decimals=0,
              step=("2024-09", 5.0)),
            # Version 2: a % of a handful of incidents a month, with a month that had none.
            _pct("P1FIX4", "Priority 1 incidents resolved within 4 hours", 90, 95, 75, 93.0, 0.0,
                 volume_unit="incidents", volumes="app_p1", binomial=True, rng_offset=1,
                 description="Priority 1 application incidents resolved within 4 hours of logging, as a share of the "
                             "priority 1 incidents resolved in the month",
                 data_source="ITSM monthly extract", owner="Applications manager", agreed="yes"),
        ],
    ),
    dict(
        contract_id="NB-SEC-008", title="Security operations centre", supplier="harbourline", category="Security",
        start_date="2023-02-01", end_date="2028-01-31", notice_period_days=180, annual_value_gbp=690_000,
        service_credit_cap_pct=8, contract_manager="Devon Okoro-Hale", procurement_id="NB-PROC-2022-051",
        kpis=[
            _pct("TRIAGE", "Critical alerts triaged within 15 minutes", 95, 98, 90, 96.5, 1.0, credit_method="fixed",
                 credit_pct=4.0, description="Critical alerts acknowledged and triaged within 15 minutes",
                 data_source="SIEM", owner="Security manager", agreed="yes"),
            K("MTTD", "Mean time to detect", "minutes", "lower", 60, 30, 120, 44, 3.0, drift=-0.42, decimals=0,
              description="Mean minutes from first malicious event to detection",
              commitment=dict(baseline=45, baseline_period="2023-11", ci_target=30, ci_target_date="2026-10"),
              data_source="SIEM", owner="Security manager", agreed="2023-11-20"),
            _pct("VULN", "Critical vulnerabilities remediated within 30 days", 85, 95, 70, 87, 3.0),
            K("PHISH", "Phishing reports answered", "hours", "lower", 8, 4, 24, 5.2, 0.8),
            K("THREAT", "Threat intelligence briefings", "count", "higher", 1, 2, 0, 2.0, 0.0, decimals=0),
        ],
    ),
    dict(
        contract_id="NB-WEB-009", title="Website and digital services platform", supplier="quillon", category="SaaS",
        start_date="2021-11-01", end_date="2027-10-31", notice_period_days=180, annual_value_gbp=540_000,
        service_credit_cap_pct=10, contract_manager="Devon Okoro-Hale", procurement_id="NB-PROC-2021-027",
        kpis=[
            _pct("WEBAV", "Website availability", 99.5, 99.9, 99.0, 99.92, 0.05, credit_method="shortfall",
                 decimals=2, description="Synthetic monitoring from three locations", data_source="Uptime monitor",
                 owner="Digital lead", agreed="yes"),
            _pct("ACCESS", "Pages passing accessibility checks", 95, 99, 90, 96.5, 0.5, drift=0.09,
                 description="Published pages passing automated WCAG 2.2 AA checks",
                 commitment=dict(baseline=96.0, baseline_period="2023-11", ci_target=99.5, ci_target_date="2026-10"),
                 data_source="Accessibility scanner", owner="Digital lead", agreed="2023-11-01"),
            K("FORMS", "Online forms completed", "%", "higher", 70, 80, 60, 74, 2.0, hi=100,
              description="Forms started online that are completed"),
            K("PAGELOAD", "Median page load time", "minutes", "lower", 0.05, 0.04, 0.08, 0.045, 0.003, decimals=3),
            K("CONTENT", "Content requests done within 2 days", "%", "higher", 85, 95, 70, 90, 2.5, hi=100),
        ],
    ),
    dict(
        contract_id="NB-TEL-010", title="Telephony and contact centre platform", supplier="meridian",
        category="Telephony", start_date="2022-06-01", end_date="2027-05-31", notice_period_days=180,
        annual_value_gbp=870_000, service_credit_cap_pct=10, contract_manager="Priya Lindqvist",
        procurement_id=None,
        kpis=[
            _pct("TELAV", "Telephony availability", 99.9, 99.95, 99.5, 99.95, 0.03, credit_method="shortfall",
                 decimals=2, statutory=True, description="Availability of inbound call routing", data_source="Platform monitoring",
                 owner="Contact centre manager", agreed="yes"),
            _pct("GOS", "Calls connected first time", 97, 99, 93, 98.2, 0.5, decimals=2, statutory=True),
            K("QUEUE", "Average queue time", "minutes", "lower", 3, 2, 6, 2.6, 0.3, decimals=2,
              description="Mean minutes a caller waits for an agent",
              commitment=dict(baseline=2.8, baseline_period="2024-01", ci_target=2.0, ci_target_date="2026-12"),
              data_source="Platform monitoring", owner="Contact centre manager", agreed="2024-01-15"),
            K("CCSAT", "Caller satisfaction", "score", "higher", 3.8, 4.2, 3.2, 3.95, 0.08, decimals=2, hi=5.0),
            K("TELINC", "Priority 1 telephony incidents", "count", "lower", 1, 0, 3, 0.4, 0.0, decimals=0),
        ],
    ),
    dict(
        contract_id="NB-GIS-011", title="GIS and land charges system", supplier="tamesis", category="SaaS",
        start_date="2020-02-01", end_date="2027-01-31", notice_period_days=180, annual_value_gbp=310_000,
        service_credit_cap_pct=10, contract_manager="Devon Okoro-Hale", procurement_id="NB-PROC-2019-040",
        kpis=[
            _pct("GISAV", "System availability", 99.0, 99.5, 98.0, 99.4, 0.25, drift=-0.01, credit_method="shortfall",
                 decimals=2, description="Availability in core hours", data_source="Supplier portal",
                 owner="GIS manager", agreed="yes"),
            K("SEARCH", "Land charges searches returned", "days", "lower", 10, 5, 15, 6.5, 0.8,
              description="Mean working days to return an official search", data_source="Land charges system",
              owner="Land charges manager", agreed="yes"),
            K("GISDEF", "Open GIS defects", "count", "lower", 15, 8, 25, 11, 2.0, drift=0.15, decimals=0),
            K("GISSAT", "User satisfaction", "score", "higher", 3.5, 4.0, 3.0, 3.6, 0.1, decimals=2, hi=5.0),
            _pct("LLC", "Records migrated to the national register", None, 100, None, 72, 1.0, drift=0.85, hi=100,
                 tolerance=10, commitment=dict(baseline=72, baseline_period="2023-11", ci_target=100,
                                               ci_target_date="2026-12")),
        ],
    ),
    dict(
        contract_id="NB-PRINT-012", title="Managed print service", supplier="arclight", category="Managed print",
        start_date="2023-05-01", end_date="2029-04-30", notice_period_days=90, annual_value_gbp=260_000,
        service_credit_cap_pct=None, contract_manager=None, procurement_id="NB-PROC-2023-003",
        kpis=[
            _pct("DEVUP", "Device uptime", 97, 98.5, 94, 98.2, 0.5, credit_method="fixed", credit_pct=1.5,
                 decimals=2, description="Share of fleet devices available in opening hours",
                 data_source="Fleet portal", agreed="yes"),
            K("FIXH", "Device fix time", "hours", "lower", 16, 8, 24, 9.5, 1.5, description="Mean hours to fix"),
            _pct("RECYC", "Consumables recycled", 80, 90, 60, 83, 2.0, drift=0.1),
            K("PAGES", "Pages printed per employee", "count", "lower", None, 120, None, 150, 8.0, drift=-0.6,
              tolerance=20, decimals=0, commitment=dict(ci_annual_uplift_pct=10, baseline_period="2023-11")),
            K("PSAT", "User satisfaction", "score", "higher", 3.5, 4.0, 3.0, 3.7, 0.12, decimals=2, hi=5.0),
        ],
    ),
    # Version 2: a contract that began mid-month (15 April 2025: April is a part month), a banded availability
    # KPI and a contract-wide critical-failure rule (CREDIT_BANDS, CRITICAL_FAILURE_RULES). Every KPI draws from a
    # generator of its own, so the other contracts' figures are unchanged.
    dict(
        contract_id="NB-PARK-013", title="Parking permits and enforcement system", supplier="calloway",
        category="SaaS", start_date="2025-04-15", end_date="2030-04-14", notice_period_days=180,
        annual_value_gbp=540_000, service_credit_cap_pct=15, contract_manager="Amara Osei-Whitfield",
        procurement_id="NB-PROC-2024-022",
        kpis=[
            _pct("PKAV", "Permit system availability", None, 99.5, 97.0, 99.6, 0.3, credit_method="banded",
                 decimals=2, statutory=True, rng_offset=11,
                 description="Minutes the permit and enforcement services were available / minutes in the month, "
                             "excluding agreed maintenance",
                 data_source="Supplier monitoring portal", owner="Parking services manager", agreed="2025-03-20"),
            K("P1LATE", "Priority 1 incidents resolved late", "count", "lower", 1, 0, 3, 0.3, 0.0, decimals=0,
              credit_method="fixed", credit_pct=2.0, statutory=True, rng_offset=12,
              description="Priority 1 incidents resolved after the 4-hour fix time, per month",
              data_source="ITSM monthly extract", owner="Parking services manager", agreed="yes"),
            _pct("PROC", "Permit applications processed within 2 working days", 90, 95, 80, 94.0, 1.4,
                 statutory=True, rng_offset=13,
                 description="Resident and business permit applications decided within 2 working days of receipt",
                 data_source="Permit system report", owner="Parking services manager", agreed="yes"),
            _pct("APPEAL", "Appeals answered within 14 days", 85, 92, 75, 90.0, 2.0, rng_offset=14,
                 description="Penalty charge notice appeals answered within 14 calendar days"),
            K("PKSAT", "Resident satisfaction with the permit service", "score", "higher", 3.6, 4.0, 3.0, 3.8, 0.1,
              decimals=2, hi=5.0, rng_offset=15),
        ],
    ),
]

INITIATIVES = [
    ("NB-SD-001", "CI-001", "Knowledge base rebuild for first-line fixes", "supplier", "2024-09-10", "2025-02-28",
     "2025-02-26", "delivered", "FTF", 120000, 95000, "Service desk manager"),
    ("NB-SD-001", "CI-002", "Call-back option in the telephony queue", "authority", "2025-06-02", "2026-03-31", None,
     "in_progress", "ANS30", 40000, None, "Service desk manager"),
    ("NB-SD-001", "CI-003", "Self-service password reset", "supplier", "2026-05-14", "2026-12-31", None, "agreed",
     "AGED", 60000, None, "Head of IT operations"),
    ("NB-HOST-002", "CI-004", "Automated restore testing", "supplier", "2024-02-01", "2024-10-31", "2024-11-20",
     "delivered", "MTTR", 30000, 12000, "Infrastructure lead"),
    ("NB-HOST-002", "CI-005", "Move backups to immutable storage", "authority", "2025-09-01", "2026-06-30", None,
     "in_progress", "BACKUP", 25000, None, "Infrastructure lead"),
    ("NB-NET-003", "CI-006", "Proactive fault detection on site routers", "supplier", "2024-05-01", "2025-03-31", None,
     "in_progress", "FIXSLA", 50000, None, "Network manager"),
    ("NB-NET-003", "CI-007", "SD-WAN pilot", "supplier", "2026-07-01", None, None, "proposed", None, None, None, None),
    ("NB-SAAS-004", "CI-008", "Defect triage with the authority's testers", "authority", "2024-03-01", "2024-09-30",
     "2024-10-15", "delivered", "P2OPEN", 20000, 26000, "Revenues systems lead"),
    ("NB-SAAS-004", "CI-009", "Chatbot for council tax queries", "supplier", "2025-01-10", None, None, "rejected",
     None, 80000, None, None),
    ("NB-SAAS-005", "CI-010", "Performance tuning of case search", "supplier", "2025-02-01", "2025-08-31", None,
     "agreed", "RESP", 15000, None, "Social care systems lead"),
    ("NB-SAAS-005", "CI-011", "Data quality dashboard", "authority", "2024-06-01", "2025-01-31", "2025-01-20",
     "delivered", "DATAQ", 10000, 4000, "Social care systems lead"),
    ("NB-CLOUD-006", "CI-012", "Reserved instance purchasing plan", "supplier", "2024-01-15", "2024-06-30",
     "2024-07-31", "delivered", "SPEND", 90000, 110000, "Cloud lead"),
    ("NB-CLOUD-006", "CI-013", "Automated shutdown of idle environments", "supplier", "2025-11-01", None, None,
     "withdrawn", "SPEND", 30000, None, None),
    ("NB-APP-007", "CI-014", "Automated regression test suite", "supplier", "2024-02-01", "2024-08-31", "2024-08-28",
     "delivered", "DOCS", 45000, 20000, "Applications manager"),
    ("NB-APP-007", "CI-015", "Backlog reduction sprint", "authority", "2026-01-15", "2026-06-30", None, "in_progress",
     "BACKLOG", 35000, None, "Applications manager"),
    ("NB-SEC-008", "CI-016", "Automated alert enrichment", "supplier", "2024-04-01", "2025-03-31", "2025-04-10",
     "delivered", "MTTD", 25000, 25000, "Security manager"),
    ("NB-WEB-009", "CI-017", "Accessibility fixes to legacy templates", "authority", "2025-03-01", "2025-12-31", None,
     "in_progress", "ACCESS", 0, None, "Digital lead"),
    ("NB-TEL-010", "CI-018", "Visual IVR on the website", "supplier", "2026-09-01", None, None, "proposed", "QUEUE",
     55000, None, None),
    ("NB-GIS-011", "CI-019", "Bulk migration tooling for land charges", "supplier", "2025-04-01", "2026-02-28", None,
     "in_progress", "LLC", 30000, None, "Land charges manager"),
    ("NB-PRINT-012", "CI-020", "Secure print release to cut waste", "supplier", "2024-03-01", "2024-09-30",
     "2024-09-30", "delivered", "PAGES", 18000, 21000, None),
]

# (contract, kpi, period, revision-2 value change): a supplier restated these months.
RESTATEMENTS = [("NB-SD-001", "FTF", "2026-08", -2.1), ("NB-HOST-002", "AVAIL", "2026-02", -0.35),
                ("NB-NET-003", "FIXSLA", "2026-09", -1.8), ("NB-SAAS-004", "P2OPEN", "2025-12", 3)]
# Months with no row at all (the return never arrived) and months returned with no value.
MISSING_ROWS = [("NB-APP-007", "APPSAT", "2025-08"), ("NB-APP-007", "APPSAT", "2025-09"),
                ("NB-SAAS-005", "USAT", "2026-04"), ("NB-PRINT-012", "RECYC", "2026-07")]
EMPTY_VALUES = [("NB-SEC-008", "VULN", "2026-06"), ("NB-WEB-009", "FORMS", "2025-12")]
# The supplier of these KPIs writes percentages with a % sign, which the data contract accepts.
PERCENT_SIGN = {("NB-SD-001", "ANS30")}

# Version 2. Monthly volumes: name -> (typical month, seed offset, kind). "seasonal" volumes follow the service
# desk's year (busy in January and September, quiet in August and December); "poisson" ones are a few rare items.
VOLUME_SERIES = {
    "sd_incidents": (3200, 101, "seasonal"),  # incidents resolved by the service desk
    "sd_calls": (5400, 102, "seasonal"),  # calls offered to the service desk
    "app_p1": (5, 103, "poisson"),  # priority 1 application incidents resolved
}
SEASON = np.array([1.12, 1.03, 1.00, 0.96, 0.97, 0.94, 0.90, 0.82, 1.10, 1.06, 1.01, 0.84])  # January .. December
# Months whose volume is set, not drawn: (contract, kpi, period) -> volume. 0 with no value = no activity.
VOLUME_SET = {("NB-APP-007", "P1FIX4", "2026-03"): 14, ("NB-APP-007", "P1FIX4", "2026-06"): 0}
# Months of a binomial KPI with another pass rate than its level (an incident that hit the figure).
PASS_RATE_SET = {("NB-APP-007", "P1FIX4", "2026-03"): 0.55}
# Supplier notes explaining a figure (version-2 KPIs only, so that the version-1 rows stay as they were).
NOTES = {
    ("NB-APP-007", "P1FIX4", "2026-03"): "Major outage 14 March, see incident report",
    ("NB-APP-007", "P1FIX4", "2026-06"): "No priority-1 incidents this month",
}
# Values set, not drawn (version-2 KPIs only): (contract, kpi, period) -> value. NB-PARK-013's part month misses
# its availability target by 2 points (the 10 % band, pro-rated to 16/30 of the charge), an outage in July 2026
# by more than 5 (the 15 % band); priority 1 incidents are resolved late at the critical level (3 or more) in
# September 2025, February and April 2026: only April has 2 such months in 3, so the rule fires once.
VALUE_SET = {
    ("NB-PARK-013", "PKAV", "2025-04"): 97.5, ("NB-PARK-013", "PKAV", "2026-07"): 94.3,
    ("NB-PARK-013", "P1LATE", "2025-09"): 3, ("NB-PARK-013", "P1LATE", "2026-02"): 4,
    ("NB-PARK-013", "P1LATE", "2026-04"): 3,
}
NOTES.update({
    ("NB-PARK-013", "PKAV", "2025-04"): "Service began 15 April: availability measured from go-live",
    ("NB-PARK-013", "PKAV", "2026-07"): "Data centre power failure 9-10 July, see major incident report",
    ("NB-PARK-013", "P1LATE", "2026-04"): "Three P1 incidents breached the fix time during the permit renewal peak",
})
# The version-2 tables. A process change recorded for a KPI (its chart is rebased there): contract, kpi, first month
# of the new process, reason, baseline_months.
PROCESS_CHANGES = [("NB-SD-001", "FTF", "2025-03", "Knowledge base rebuild and first-line triage (initiative CI-001)",
                    "")]
# A banded KPI's schedule: missing the target by up to 1 point 5 %, by more than 1 point 10 %, by 5 or more 15 %
# (contract, kpi, shortfall_from, strictly_above, credit_pct).
CREDIT_BANDS = [("NB-PARK-013", "PKAV", "0", "yes", "5"), ("NB-PARK-013", "PKAV", "1", "yes", "10"),
                ("NB-PARK-013", "PKAV", "5", "no", "15")]
# "More than once in any three months" for any KPI of the contract; that month's credits do not accrue
# (contract, kpi — empty: each KPI —, count, window_months, effect).
CRITICAL_FAILURE_RULES = [("NB-PARK-013", "", "2", "3", "suppress_credits")]
# Restatements of version-2 KPIs: (contract, kpi, period) -> (revision-2 value change, note).
RESTATEMENTS_V2 = {("NB-NET-003", "NETSEC", "2026-04"): (-1.6, "Restated after root-cause review: 37 switches "
                                                                 "had been scanned against last year's baseline")}


def _fmt(x: float | None, decimals: int) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    return f"{x:.{decimals}f}"


def _series(k: K, periods: pd.PeriodIndex, rng: np.random.Generator) -> np.ndarray:
    n = len(periods)
    t = np.arange(n)
    base = k.level + k.drift * t
    if k.step:
        base = base + np.where(periods >= pd.Period(k.step[0], "M"), k.step[1], 0.0)
    if k.unit == "count" and k.noise == 0.0:
        # Rare events: Poisson counts around the level.
        values = rng.poisson(k.level, n).astype(float)
    else:
        values = base + rng.normal(0.0, k.noise, n)
    if k.lo is not None:
        values = np.maximum(values, k.lo)
    if k.hi is not None:
        values = np.minimum(values, k.hi)
    return np.round(values, k.decimals)


def _volumes(periods: pd.PeriodIndex, seed: int) -> dict[str, np.ndarray]:
    """The monthly volume series of `VOLUME_SERIES` over ``periods`` (whole numbers, each from its own generator)."""
    out = {}
    for name, (level, offset, kind) in VOLUME_SERIES.items():
        vrng = np.random.default_rng(seed + offset)
        if kind == "poisson":
            out[name] = np.maximum(vrng.poisson(level, len(periods)), 1)
        else:
            season = SEASON[np.asarray(periods.month) - 1]
            out[name] = np.round(level * season * (1 + vrng.normal(0.0, 0.04, len(periods)))).astype(int)
    return out


def _kpi_periods(k: K, periods: pd.PeriodIndex) -> pd.PeriodIndex:
    """The months a KPI has a value due: from its start_period, and only quarter ends for a quarterly KPI."""
    if k.start_period:
        periods = periods[periods >= pd.Period(k.start_period, "M")]
    if k.frequency == "quarterly":
        periods = periods[np.asarray(periods.month) % 3 == 0]
    return periods


def _binomial_values(k: K, keys: list[tuple], volumes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Percentages of a few items a month: the share of each month's ``volumes`` that passed (NaN with none)."""
    rate = np.array([PASS_RATE_SET.get(key, k.level / 100) for key in keys])
    passed = rng.binomial(volumes, rate)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(volumes > 0, np.round(100 * passed / np.maximum(volumes, 1), k.decimals), np.nan)


def _text(x) -> str:
    return "" if x is None else str(x)


def generate(seed: int = SEED) -> dict[str, pd.DataFrame]:
    """Build the tables of the sample portfolio as text-valued DataFrames, exactly as written to CSV.

    The four version-1 tables and the version-2 ``process_changes``, ``credit_bands`` and
    ``critical_failure_rules``.
    """
    rng = np.random.default_rng(seed)
    periods = pd.period_range(FIRST_PERIOD, LAST_PERIOD, freq="M")
    volume_series = _volumes(periods, seed)
    contracts, kpis, measurements = [], [], []
    for c in CONTRACTS:
        supplier, supplier_id = SUPPLIERS[c["supplier"]]
        contracts.append({
            "contract_id": c["contract_id"], "title": c["title"], "authority": AUTHORITY, "supplier": supplier,
            "supplier_id": supplier_id, "category": c["category"], "start_date": c["start_date"],
            "end_date": c["end_date"], "notice_period_days": c["notice_period_days"],
            "annual_value_gbp": c["annual_value_gbp"], "monthly_charge_gbp": "",
            "service_credit_cap_pct": "" if c["service_credit_cap_pct"] is None else c["service_credit_cap_pct"],
            "contract_manager": c["contract_manager"] or "", "procurement_id": c["procurement_id"] or "",
            "service_credit_cap_period": c.get("service_credit_cap_period", ""),
        })
        for k in c["kpis"]:
            cm = k.commitment
            kpis.append({
                "contract_id": c["contract_id"], "kpi_id": k.kpi_id, "name": k.name,
                "description": k.description or "", "unit": k.unit, "direction": k.direction,
                "sla": _fmt(k.sla, 3).rstrip("0").rstrip(".") if k.sla is not None else "",
                "target": _fmt(k.target, 3).rstrip("0").rstrip(".") if k.target is not None else "",
                "tolerance": "" if k.tolerance is None else k.tolerance,
                "critical": _fmt(k.critical, 3).rstrip("0").rstrip(".") if k.critical is not None else "",
                "credit_method": k.credit_method, "credit_pct": "" if k.credit_pct is None else k.credit_pct,
                "weight": k.weight, "baseline": cm.get("baseline", ""), "baseline_period": cm.get("baseline_period", ""),
                "ci_target": cm.get("ci_target", ""), "ci_target_date": cm.get("ci_target_date", ""),
                "ci_annual_uplift_pct": cm.get("ci_annual_uplift_pct", ""), "data_source": k.data_source or "",
                "owner": k.owner or "", "agreed_with_supplier": k.agreed or "",
                "statutory": "yes" if k.statutory else "no",
                "frequency": _text(k.frequency), "start_period": _text(k.start_period), "end_period": "",
                "volume_unit": _text(k.volume_unit), "aggregation": "",
            })
            # Version-1 KPIs share `rng` (their draws, in this order, are the committed figures); version-2 KPIs
            # have generators of their own so that adding one never moves another KPI's figures.
            krng = rng if k.rng_offset is None else np.random.default_rng(seed + k.rng_offset)
            kperiods = _kpi_periods(k, periods[periods >= pd.Period(c["start_date"], "M")])
            keys = [(c["contract_id"], k.kpi_id, str(p)) for p in kperiods]
            volumes = None
            if k.volumes:
                volumes = volume_series[k.volumes][periods.get_indexer(kperiods)].copy()
                for i, key in enumerate(keys):
                    volumes[i] = VOLUME_SET.get(key, volumes[i])
            values = _binomial_values(k, keys, volumes, krng) if k.binomial else _series(k, kperiods, krng)
            values = np.array([VALUE_SET.get(key, v) for key, v in zip(keys, values)], dtype=float)
            for i, (key, v) in enumerate(zip(keys, values)):
                p = kperiods[i]
                if key in MISSING_ROWS:
                    continue
                # Returns arrive 5-12 days after the month ends.
                submitted = (p + 1).start_time + pd.Timedelta(days=int(krng.integers(4, 12)))
                text = "" if key in EMPTY_VALUES else _fmt(float(v), k.decimals)
                if text and (c["contract_id"], k.kpi_id) in PERCENT_SIGN:
                    text += "%"
                note = "Return not supplied: monitoring outage" if key in EMPTY_VALUES else NOTES.get(key, "")
                volume = "" if volumes is None else str(int(volumes[i]))
                measurements.append({"contract_id": key[0], "kpi_id": key[1], "period": key[2], "value": text,
                                     "submitted_on": submitted.date().isoformat(), "revision": 1, "note": note,
                                     "volume": volume, "complete": "", "origin": ""})
                restated = [(delta, "Restated after reconciliation with the authority's monitoring")
                            for rc, rk, rp, delta in RESTATEMENTS if (rc, rk, rp) == key]
                if key in RESTATEMENTS_V2:
                    restated.append(RESTATEMENTS_V2[key])
                for delta, why in restated:
                    measurements.append({
                        "contract_id": key[0], "kpi_id": key[1], "period": key[2],
                        "value": _fmt(float(v) + delta, k.decimals),
                        "submitted_on": (submitted + pd.Timedelta(days=21)).date().isoformat(), "revision": 2,
                        "note": why, "volume": volume, "complete": "", "origin": "",
                    })
    measurements += _derived_rows(pd.DataFrame(measurements).astype(str), seed)
    initiatives = [dict(zip(["contract_id", "initiative_id", "title", "raised_by", "raised_on", "due", "delivered_on",
                             "status", "kpi_id", "expected_benefit_gbp", "realised_benefit_gbp", "owner"],
                            ["" if x is None else x for x in row])) for row in INITIATIVES]
    return {
        "contracts": pd.DataFrame(contracts).astype(str),
        "kpis": pd.DataFrame(kpis).astype(str),
        "measurements": pd.DataFrame(measurements).astype(str),
        "initiatives": pd.DataFrame(initiatives).astype(str),
        "process_changes": pd.DataFrame(PROCESS_CHANGES, columns=["contract_id", "kpi_id", "period", "reason",
                                                                  "baseline_months"]).astype(str),
        "credit_bands": pd.DataFrame(CREDIT_BANDS, columns=["contract_id", "kpi_id", "shortfall_from",
                                                            "strictly_above", "credit_pct"]).astype(str),
        "critical_failure_rules": pd.DataFrame(CRITICAL_FAILURE_RULES, columns=[
            "contract_id", "kpi_id", "count", "window_months", "effect"]).astype(str),
    }


def _derived_rows(measurements: pd.DataFrame, seed: int) -> list[dict]:
    """The figures ``cinb derive`` computes from the sample's records (`cinb.sample_records`), as sample rows:
    the derive engine's own values (to 4 decimals, as ``cinb derive --out`` writes them), ``origin`` derived."""
    with tempfile.TemporaryDirectory() as tmp:  # read as `cinb derive --definitions derive.yml` reads it
        path = Path(tmp) / "derive.yml"
        path.write_text(DEFINITIONS_TEXT, encoding="utf-8")
        result = derive(tickets(measurements, seed), path, as_of=AS_OF)
    return [{"contract_id": r.contract_id, "kpi_id": r.kpi_id, "period": r.period,
             "value": "" if pd.isna(r.value) else f"{r.value:.4f}".rstrip("0").rstrip("."), "submitted_on": "",
             "revision": "", "note": r.note or "", "volume": str(int(r.volume)),
             "complete": "yes" if r.complete else "no", "origin": "derived"}
            for r in result.measurements.itertuples(index=False)]


def write(folder: Path = SAMPLE_DIR, seed: int = SEED) -> list[Path]:
    """Write the sample portfolio as CSV files into ``folder`` (UTF-8, ``\\n`` line endings), with its records
    (``records/service_desk_tickets.csv``) and their KPI definitions (``derive.yml``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    tables = generate(seed)
    for name, frame in tables.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        paths.append(path)
    records = folder / RECORDS_FILE
    records.parent.mkdir(parents=True, exist_ok=True)
    tickets(tables["measurements"][tables["measurements"]["origin"] != "derived"], seed).to_csv(
        records, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    definitions = folder / "derive.yml"
    definitions.write_text(DEFINITIONS_TEXT, encoding="utf-8", newline="\n")
    return paths + [records, definitions]


def main(argv: list[str] | None = None) -> int:
    """``python -m cinb.sample [--out DIR] [--seed N]``: write the sample portfolio's CSV files; returns 0."""
    parser = argparse.ArgumentParser(description="Regenerate the embedded sample portfolio (deterministic).")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR, help="folder to write the CSV files into")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for path in write(args.out, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
