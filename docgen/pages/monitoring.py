"""Monitoring page: the template's own alarms, recommended alarms for what they leave
uncovered (a table and a ready-to-add CloudFormation snippet), and dashboard metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docgen.analyse import ops as a
from docgen.intrinsics import render
from docgen.pages import PageContext
from docgen.pages.troubleshooting import knowledge, sources

_COMPARISON = {
    "GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<", "LessThanOrEqualToThreshold": "<=",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside band",
    "LessThanLowerThreshold": "< lower band", "GreaterThanUpperThreshold": "> upper band",
}


_MONITORING_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard",
                     "AWS::CloudWatch::CompositeAlarm")


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _alarm_row(alarm: a.TemplateAlarm) -> dict[str, Any]:
    return {
        "logical_id": alarm.resource.logical_id,
        "namespace": alarm.namespace, "metric": alarm.metric, "statistic": alarm.statistic,
        "condition": " ".join(x for x in (_COMPARISON.get(alarm.comparison, alarm.comparison),
                                          alarm.threshold) if x),
        "period": alarm.period,
        "evaluation": alarm.evaluation_periods
        + (f" (alarm on {alarm.datapoints})" if alarm.datapoints else ""),
        "watched": list(alarm.watched),
        "dimensions": [f"{n}={v}" for n, v in alarm.dimensions],
        "meaning": alarm.description or alarm.meaning,
        "knowledge": alarm.meaning if alarm.description else "",
        "actions": list(alarm.actions),
    }


def _recommendation_row(rec: a.Recommendation) -> dict[str, Any]:
    r = rec.record
    return {
        "logical_id": rec.resource.logical_id, "type": rec.resource.type,
        "title": r.title, "namespace": r.namespace, "metric": r.metric,
        "statistic": r.statistic, "comparison": _COMPARISON[r.comparison],
        "threshold": _number(r.threshold), "threshold_reason": r.threshold_reason,
        "period": r.period, "evaluation": f"{r.datapoints} of {r.evaluation_periods}",
        "text": r.text, "certain": rec.certain,
        "dimensions": [f"{n}={render(v)}" for n, v in rec.dimensions or ()],
        "unresolved": list(rec.unresolved), "sources": sources(r),
    }


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    kb = knowledge(ctx)
    template = stack.template
    alarms = a.template_alarms(kb, template)
    recs = a.recommendations(kb, template, alarms)
    snippet = a.alarm_snippet(template, recs, a.alarm_actions(alarms, template))
    watched = {n for al in alarms for n in al.watched}
    metrics = a.dashboard_metrics(kb, template)
    alarm_types = {t for t in a.types_in(template) if kb.of_kind("alarm", t)}
    return {
        "alarms": [_alarm_row(al) for al in alarms],
        "unwatched_alarms": [al.resource.logical_id for al in alarms if not al.watched],
        "coverage": [{"logical_id": c.resource.logical_id, "type": c.resource.type,
                      "recommended": c.recommended, "covered": c.covered}
                     for c in a.coverage(kb, template, alarms)],
        "recommendations": [_recommendation_row(r) for r in recs],
        "snippet": snippet.text,
        "snippet_alarms": list(snippet.alarm_ids),
        "snippet_parameters": list(snippet.parameter_ids),
        "snippet_skipped": [_recommendation_row(r) for r in snippet.skipped],
        "dashboards": [r.logical_id for r in template.resources_of_type(
            "AWS::CloudWatch::Dashboard")],
        "metrics": [{"logical_id": m.resource.logical_id, "namespace": m.namespace,
                     "metric": m.metric, "statistic": m.statistic,
                     "dimensions": [f"{n}={v}" for n, v in m.dimensions], "text": m.text,
                     "on_dashboard": m.on_dashboard} for m in metrics],
        "no_alarm_types": [t for t in a.types_in(template)
                           if t not in alarm_types and t not in _MONITORING_TYPES],
        "watched_count": len(watched),
    }
