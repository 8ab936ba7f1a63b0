"""Account-level reads: the extension list and service info."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from rc_pipeline.simulator.common import account, ok, self_uri, sim
from rc_pipeline.simulator.paging import list_blocks
from rc_pipeline.simulator.params import enum_list, page_value, per_page_value

EXTENSION_STATUSES = ("Enabled", "Disabled", "Frozen", "NotActivated", "Unassigned")
FEATURES = (
    "SMS", "SMSReceiving", "MMS", "Fax", "FaxReceiving", "Voicemail", "VoicemailToText", "Pager",
    "PagerReceiving", "OnDemandCallRecording", "AutomaticInboundCallRecording",
    "AutomaticOutboundCallRecording", "InternationalCalling", "RingOut", "VoipCalling", "Reports",
)  # fmt: skip


async def list_extensions(request: Request) -> Response:
    acc = account(request)
    statuses = set(enum_list(request, "status", EXTENSION_STATUSES))
    types = set(request.query_params.getlist("type"))
    number = request.query_params.get("extensionNumber")
    emails = {e.lower() for e in request.query_params.getlist("email")}
    page, per_page = page_value(request), per_page_value(request)
    records = [
        r
        for r in acc.extensions()
        if (not statuses or r["status"] in statuses)
        and (not types or r["type"] in types)
        and (number is None or r["extensionNumber"] == number)
        and (not emails or r["contact"].get("email", "").lower() in emails)
    ]
    chunk = records[(page - 1) * per_page : page * per_page]
    navigation, paging = list_blocks(
        sim(request).base_url,
        request,
        page,
        per_page,
        len(chunk),
        len(records) > page * per_page,
        len(records),
    )
    return ok({"uri": self_uri(request), "records": chunk, "navigation": navigation, "paging": paging})


async def service_info(request: Request) -> Response:
    acc = account(request)
    base = sim(request).base_url
    us = {
        "id": "1",
        "uri": f"{base}/restapi/v1.0/dictionary/country/1",
        "name": "United States",
        "isoCode": "US",
        "callingCode": "1",
    }
    features = [{"featureName": "HipaaCompliance", "enabled": bool(acc.config.hipaa)}]
    features += [{"featureName": name, "enabled": True} for name in FEATURES]
    return ok(
        {
            "uri": f"{base}/restapi/v1.0/account/{acc.account_id}/service-info",
            "servicePlanName": "RingEX Premium",
            "brand": {"id": "1210", "name": "RingCentral", "homeCountry": us},
            "contractedCountry": us,
            "servicePlan": {"id": "8507", "name": "RingEX Premium", "edition": "Premium"},
            "billingPlan": {
                "id": "32463",
                "name": "Monthly",
                "durationUnit": "Month",
                "duration": 1,
                "type": "Regular",
                "includedPhoneLines": len(acc.extension_objects),
            },
            "serviceFeatures": features,
            "limits": {
                "freeSoftPhoneLinesPerExtension": 1,
                "meetingSize": 100,
                "maxMonitoredExtensionsPerUser": 100,
                "maxExtensionNumberLength": 5,
                "siteCodeLength": 0,
                "shortExtensionNumberLength": 3,
            },
        }
    )
