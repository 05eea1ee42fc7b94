"""The real carrier samples in tests/data/carrier_tracking, as the webhook bodies their carriers send."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "carrier_tracking"
SLUGS = {"DPD UK": "dpd-uk", "USPS": "usps", "Hong Kong Post": "hong-kong-post"}


def correios_rows() -> list[dict]:
    with (DATA / "correios_tracking_events.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def correios_body() -> dict:
    """All Correios objects of the sample as one SRO answer (objeto/evento), in the order recorded."""
    objects: dict[str, dict] = {}
    for row in correios_rows():
        obj = objects.setdefault(row["tracking_code"], {"numero": row["tracking_code"], "evento": []})
        if row["error"]:
            obj["erro"] = row["error"]
            continue
        obj["evento"].append({"tipo": row["event_type"], "status": row["event_status"], "data": row["date"],
                              "hora": row["time"], "descricao": row["description"], "detalhe": row["detail"],
                              "local": row["location"], "codigo": row["location_zip"], "cidade": row["city"],
                              "uf": row["state"]})
    return {"objeto": list(objects.values())}


def aftership_rows() -> list[dict]:
    with (DATA / "aftership_challenge_checkpoints_2014.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def aftership_bodies() -> list[dict]:
    """One AfterShip-style webhook per parcel, its checkpoints as recorded (no tags: the 2014 feed had none)."""
    parcels: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in aftership_rows():
        parcels[(SLUGS[row["carrier"]], row["tracking_number"])].append(
            {"checkpoint_time": row["checkpoint_time"], "message": row["message"], "location": row["location"]})
    return [{"msg": {"slug": slug, "tracking_number": number, "checkpoints": checkpoints}}
            for (slug, number), checkpoints in parcels.items()]
