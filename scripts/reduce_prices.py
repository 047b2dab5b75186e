#!/usr/bin/env python3
"""Reduce AWS Price List bulk offer files to docgen's price-table YAML.

docgen builds offline, so its cost estimates read a small dated price table
(``docgen/knowledge/prices/*.yml``) instead of the Price List API. This script turns the
bulk offer files a user downloaded (JSON or CSV, for example
``https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonRDS/current/eu-west-2/index.json``
or ``.../index.csv``) into that table: on-demand prices only, for the product families,
usage types, instance classes and node types docgen's estimator uses, in the regions asked
for. Nothing is fetched: the script only reads the files it is given.

Usage::

    python scripts/reduce_prices.py OFFER [OFFER ...] -o kb/prices/aws-offers.yml \
        [--regions eu-west-2,us-east-1] [--all-classes]

Put the output under ``<paths.knowledge>/prices/`` in a docgen project: entries with the
same id replace the built-in ones region by region. Files are read whole (JSON) or
streamed (CSV); for the very large EC2 offer prefer its per-region files.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

DEFAULT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-central-1",
                   "ap-southeast-1", "ap-northeast-1")
COVERED_FAMILIES = ("db.t3.", "db.t4g.", "db.m5.", "db.m6g.", "db.r5.", "db.r6g.",
                    "cache.t3.", "cache.t4g.", "cache.m5.", "cache.m6g.", "cache.r5.",
                    "cache.r6g.")
OFFER_URL = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/{code}/current/index.json"

#: Offer-file location names of the regions (older offers have no regionCode attribute).
LOCATIONS = {
    "US East (N. Virginia)": "us-east-1", "US East (Ohio)": "us-east-2",
    "US West (N. California)": "us-west-1", "US West (Oregon)": "us-west-2",
    "EU (Ireland)": "eu-west-1", "EU (London)": "eu-west-2", "EU (Paris)": "eu-west-3",
    "EU (Frankfurt)": "eu-central-1", "EU (Stockholm)": "eu-north-1", "EU (Milan)": "eu-south-1",
    "Europe (Ireland)": "eu-west-1", "Europe (London)": "eu-west-2",
    "Europe (Frankfurt)": "eu-central-1",
    "Asia Pacific (Singapore)": "ap-southeast-1", "Asia Pacific (Sydney)": "ap-southeast-2",
    "Asia Pacific (Tokyo)": "ap-northeast-1", "Asia Pacific (Seoul)": "ap-northeast-2",
    "Asia Pacific (Mumbai)": "ap-south-1", "Canada (Central)": "ca-central-1",
    "South America (Sao Paulo)": "sa-east-1",
}

SOURCES = {
    "AmazonRDS": "https://aws.amazon.com/rds/pricing/",
    "AmazonElastiCache": "https://aws.amazon.com/elasticache/pricing/",
    "AmazonECS": "https://aws.amazon.com/fargate/pricing/",
    "AmazonEFS": "https://aws.amazon.com/efs/pricing/",
    "AWSELB": "https://aws.amazon.com/elasticloadbalancing/pricing/",
    "AmazonEC2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "AmazonVPC": "https://aws.amazon.com/vpc/pricing/",
    "awskms": "https://aws.amazon.com/kms/pricing/",
    "AmazonCloudWatch": "https://aws.amazon.com/cloudwatch/pricing/",
    "AWSDataTransfer": "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
    "AWSSecretsManager": "https://aws.amazon.com/secrets-manager/pricing/",
    "AmazonS3": "https://aws.amazon.com/s3/pricing/",
    "AWSLambda": "https://aws.amazon.com/lambda/pricing/",
    "AWSQueueService": "https://aws.amazon.com/sqs/pricing/",
}


@dataclass(frozen=True)
class Row:
    """One on-demand price dimension of one product, attributes normalised."""

    offer: str
    attrs: dict[str, str]  # keys lower-cased without spaces: "instancetype", "usagetype", ...
    unit: str
    usd: float
    begin: float


@dataclass(frozen=True)
class Rule:
    """Which rows give which price id, and how to convert the offer's unit to ours."""

    offer: str
    match: Callable[[Row], str | None]  # -> price id, or None
    unit: str
    scale: float = 1.0  # our unit = scale x the offer's unit (e.g. 10,000 requests)
    pick: str = "first-tier"  # "first-tier" | "max" (several products map to one id)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _ut(row: Row) -> str:
    return row.attrs.get("usagetype", "")


def _ends(row: Row, suffix: str) -> bool:
    ut = _ut(row)
    return ut == suffix or ut.endswith("-" + suffix)


def _rds_instance(row: Row) -> str | None:
    a = row.attrs
    if (a.get("productfamily") != "Database Instance" or a.get("deploymentoption") != "Single-AZ"
            or a.get("licensemodel", "No license required") != "No license required"):
        return None
    engine = {"PostgreSQL": "postgres", "MySQL": "mysql", "MariaDB": "mariadb"}.get(
        a.get("databaseengine", ""))
    cls = a.get("instancetype", "")
    return f"rds.instance.{engine}.{cls}" if engine and cls else None


def _rds_storage(row: Row) -> str | None:
    for kind in ("gp2", "gp3"):
        if _ends(row, f"RDS:{kind.upper()}-Storage"):
            return f"rds.storage.{kind}"
    return None


def _cache_node(row: Row) -> str | None:
    a = row.attrs
    if a.get("productfamily") != "Cache Instance" or not a.get("instancetype"):
        return None
    engine = a.get("cacheengine", "Redis")
    if engine in ("Redis", "Memcached"):
        return f"elasticache.node.{a['instancetype']}"
    return f"elasticache.{_key(engine)}.node.{a['instancetype']}"


def _table(pairs: dict[str, str]) -> Callable[[Row], str | None]:
    def match(row: Row) -> str | None:
        for suffix, pid in pairs.items():
            if _ends(row, suffix):
                return pid
        return None
    return match


def _elb(row: Row) -> str | None:
    fam = row.attrs.get("productfamily", "")
    kind = {"Load Balancer-Application": "application", "Load Balancer-Network": "network",
            "Load Balancer-Gateway": "gateway", "Load Balancer": "classic"}.get(fam)
    if kind is None:
        return None
    if _ends(row, "LoadBalancerUsage"):
        return f"elb.{kind}.hour"
    if _ends(row, "LCUUsage") and kind in ("application", "network"):
        return f"elb.{kind}.{'lcu' if kind == 'application' else 'nlcu'}"
    return None


def _ebs(row: Row) -> str | None:
    m = re.search(r"EBS:VolumeUsage\.(gp2|gp3)$", _ut(row))
    return f"ebs.{m.group(1)}" if m else None


def _transfer(row: Row) -> str | None:
    ut = _ut(row)
    if ut.endswith("DataTransfer-Regional-Bytes"):
        return "transfer.inter-az"
    if re.search(r"^[A-Z0-9]+-[A-Z0-9]+-AWS-Out-Bytes$", ut):
        return "transfer.inter-region"
    if _ends(row, "DataTransfer-Out-Bytes"):
        return "transfer.internet-out"
    return None


def _s3(row: Row) -> str | None:
    if _ends(row, "TimedStorage-ByteHrs") and row.attrs.get("volumetype") == "Standard":
        return "s3.standard.storage"
    return None


RULES: tuple[Rule, ...] = (
    Rule("AmazonRDS", _rds_instance, "hour"),
    Rule("AmazonRDS", _rds_storage, "GB-month"),
    Rule("AmazonElastiCache", _cache_node, "hour"),
    Rule("AmazonECS", _table({"Fargate-vCPU-Hours:perCPU": "fargate.vcpu.linux-x86",
                              "Fargate-GB-Hours": "fargate.memory.linux-x86",
                              "Fargate-ARM-vCPU-Hours:perCPU": "fargate.vcpu.linux-arm",
                              "Fargate-ARM-GB-Hours": "fargate.memory.linux-arm"}), "hour"),
    Rule("AmazonEFS", _table({"TimedStorage-ByteHrs": "efs.storage.standard",
                              "IATimedStorage-ByteHrs": "efs.storage.ia",
                              "TimedStorage-Z-ByteHrs": "efs.storage.onezone.standard",
                              "IATimedStorage-Z-ByteHrs": "efs.storage.onezone.ia",
                              "ProvisionedTP-MiBpsHrs": "efs.throughput.provisioned"}),
         "GB-month"),
    Rule("AWSELB", _elb, "hour"),
    Rule("AmazonEC2", _table({"NatGateway-Hours": "vpc.nat.hour",
                              "NatGateway-Bytes": "vpc.nat.data"}), "hour"),
    Rule("AmazonEC2", _ebs, "GB-month"),
    Rule("AmazonVPC", _table({"PublicIPv4:InUseAddress": "vpc.public-ipv4"}), "hour"),
    Rule("awskms", _table({"KMS-Keys": "kms.key"}), "key-month"),
    Rule("awskms", _table({"KMS-Requests": "kms.requests"}), "10k requests", 10_000),
    Rule("AmazonCloudWatch", _table({"AlarmMonitorUsage": "cloudwatch.alarm.standard",
                                     "HighResAlarmMonitorUsage":
                                         "cloudwatch.alarm.high-resolution"}),
         "alarm metric-month"),
    Rule("AmazonCloudWatch", _table({"DashboardsUsageHour": "cloudwatch.dashboard"}),
         "dashboard-month"),
    Rule("AWSDataTransfer", _transfer, "GB", pick="max"),
    Rule("AmazonEC2", _transfer, "GB", pick="max"),
    Rule("AWSSecretsManager", _table({"AWSSecretsManager-Secrets": "secretsmanager.secret"}),
         "secret-month"),
    Rule("AmazonS3", _s3, "GB-month"),
    Rule("AWSLambda", _table({"Request": "lambda.requests"}), "million requests", 1_000_000),
    Rule("AWSLambda", _table({"Lambda-GB-Second": "lambda.duration"}), "GB-second"),
    Rule("AWSQueueService", _table({"Requests-RBP": "sqs.requests.standard",
                                    "Requests-FIFO-RBP": "sqs.requests.fifo"}),
         "million requests", 1_000_000),
)

_CLASS = re.compile(r"\b(db|cache)\.[a-z0-9]+\.[a-z0-9]+$")


def _region(attrs: dict[str, str]) -> str | None:
    """The region a price applies in (data transfer: the Region the data leaves)."""
    return (attrs.get("regioncode") or attrs.get("fromregioncode")
            or LOCATIONS.get(attrs.get("location", ""))
            or LOCATIONS.get(attrs.get("fromlocation", "")))


def read_json(path: str) -> tuple[str, str, Iterator[Row]]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    offer = data.get("offerCode", "")
    published = str(data.get("publicationDate", ""))[:10]
    products = data.get("products", {})

    def rows() -> Iterator[Row]:
        for sku, terms in (data.get("terms", {}).get("OnDemand", {}) or {}).items():
            product = products.get(sku)
            if not product:
                continue
            attrs = {_key(k): str(v) for k, v in product.get("attributes", {}).items()}
            attrs["productfamily"] = product.get("productFamily", "")
            for term in terms.values():
                for dim in term.get("priceDimensions", {}).values():
                    usd = dim.get("pricePerUnit", {}).get("USD")
                    if usd is None:
                        continue
                    yield Row(offer, attrs, dim.get("unit", ""), float(usd),
                              float(dim.get("beginRange", "0") or 0))
    return offer, published, rows()


def read_csv(path: str) -> tuple[str, str, Iterator[Row]]:
    fh = open(path, encoding="utf-8", newline="")  # closed by the rows() generator
    reader = csv.reader(fh)
    meta: dict[str, str] = {}
    header: list[str] = []
    for line in reader:
        if len(line) >= 2 and line[0] in ("FormatVersion", "Disclaimer", "Publication Date",
                                         "Version", "OfferCode"):
            meta[line[0]] = line[1]
            continue
        header = [_key(h) for h in line]
        break
    offer = meta.get("OfferCode", "")
    published = meta.get("Publication Date", "")[:10]

    def rows() -> Iterator[Row]:
        try:
            for line in reader:
                rec = dict(zip(header, line, strict=False))
                if rec.get("termtype") != "OnDemand" or rec.get("currency", "USD") != "USD":
                    continue
                try:
                    usd = float(rec.get("priceperunit", ""))
                except ValueError:
                    continue
                yield Row(offer, rec, rec.get("unit", ""), usd,
                          float(rec.get("startingrange", "0") or 0))
        finally:
            fh.close()
    return offer, published, rows()


def reduce(paths: list[str], regions: tuple[str, ...], all_classes: bool = False
           ) -> tuple[dict[str, dict[str, Any]], str]:
    """``{price id: entry}`` and the newest publication date of the inputs."""
    entries: dict[str, dict[str, Any]] = {}
    best: dict[tuple[str, str], tuple[float, float]] = {}  # (id, region) -> (begin, usd)
    newest = ""
    for path in paths:
        reader = read_csv if path.endswith(".csv") else read_json
        offer, published, rows = reader(path)
        newest = max(newest, published)
        rules = [r for r in RULES if r.offer == offer]
        if not rules:
            print(f"{path}: offer {offer!r} is not used by docgen's estimator; skipped",
                  file=sys.stderr)
            continue
        for row in rows:
            region = _region(row.attrs)
            if region not in regions:
                continue
            for rule in rules:
                pid = rule.match(row)
                if pid is None:
                    continue
                m = _CLASS.search(pid)
                cls = m.group(0) if m else ""
                if cls and not all_classes and not cls.startswith(COVERED_FAMILIES):
                    break
                usd = row.usd * rule.scale
                key = (pid, region)
                old = best.get(key)
                if rule.pick == "max":
                    keep = old is None or usd > old[1]
                else:  # the first paid tier (lowest begin range with a price > 0)
                    keep = old is None or (usd > 0 and (old[1] == 0 or row.begin < old[0]))
                if keep:
                    best[key] = (row.begin, usd)
                    entry = entries.setdefault(pid, {
                        "id": pid, "service": offer,
                        "family": row.attrs.get("productfamily", "") or "unknown",
                        "usage": re.sub(r"^[A-Z0-9]+-", "", _ut(row)) or pid,
                        "unit": rule.unit, "published": published,
                        "source": OFFER_URL.format(code=offer), "usd": {}})
                    entry["usd"][region] = round(usd, 10)
                    entry["published"] = max(entry["published"], published)
                break
    return entries, newest


def _yaml_str(value: str) -> str:
    return json.dumps(value)


def to_yaml(entries: dict[str, dict[str, Any]], published: str, inputs: list[str]) -> str:
    lines = [
        "# Reduced from AWS Price List bulk offer files by scripts/reduce_prices.py.",
        "# Inputs: " + ", ".join(os.path.basename(p) for p in inputs),
        "schema: docgen-prices/1",
        "table:",
        "  title: AWS on-demand prices (reduced from offer files)",
        "  currency: USD",
        f"  published: {_yaml_str(published or 'unknown')}",
        "  method: reduced from AWS Price List bulk offer files by scripts/reduce_prices.py",
        "prices:",
    ]
    for pid in sorted(entries):
        e = entries[pid]
        lines += [
            f"  - id: {pid}",
            f"    service: {_yaml_str(e['service'])}",
            f"    family: {_yaml_str(e['family'])}",
            f"    usage: {_yaml_str(e['usage'])}",
            f"    unit: {_yaml_str(e['unit'])}",
            f"    published: {_yaml_str(e['published'])}",
            f"    source: {e['source']}",
            "    usd: {" + ", ".join(f"{r}: {v:.10g}" for r, v in sorted(e["usd"].items())) + "}",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("offers", nargs="+", help="offer files (index.json or index.csv)")
    parser.add_argument("-o", "--output", help="YAML file to write (default: stdout)")
    parser.add_argument("--regions", default=",".join(DEFAULT_REGIONS),
                        help="comma-separated region codes to keep")
    parser.add_argument("--all-classes", action="store_true",
                        help="keep every DB instance class and cache node type, not only the "
                             "families docgen's knowledge base covers")
    args = parser.parse_args(argv)
    for path in args.offers:
        if not os.path.isfile(path):
            print(f"{path}: no such file", file=sys.stderr)
            return 2
    try:
        entries, published = reduce(args.offers, tuple(args.regions.split(",")),
                                    args.all_classes)
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = to_yaml(entries, published, args.offers)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"{args.output}: {len(entries)} price entries", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
