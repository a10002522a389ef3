"""Template filters for audio: a channel's name as the workspace's lanes show it, a
duration as a clock, a segment's frequency band."""

from __future__ import annotations

import math

from django import template

register = template.Library()


@register.filter
def channel_name(channel, channels) -> str:
    """`{{ segment.channel|channel_name:clip.channels }}`: L and R for stereo, ch 1, ch 2...
    otherwise (channels count from 0 in the data, from 1 on screen; `channelName` in
    static/earmark/waveform.js); "all channels" for None."""
    if channel is None or channel == "":
        return "all channels"
    channel = int(channel)
    if int(channels or 0) == 2 and channel in (0, 1):
        return "LR"[channel]
    return f"ch {channel + 1}"


@register.filter
def clock(seconds) -> str:
    """`{{ clip.duration|clock }}`: "4.25 s" under a minute, "12:05.50" under an hour,
    "2:00:00.00" beyond ("7200.00 s" told nobody how long a field recording was)."""
    if seconds is None or seconds == "":
        return ""
    total = float(seconds)
    if total < 60:
        return f"{total:.2f} s"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"
    return f"{int(minutes)}:{secs:05.2f}"


@register.filter
def named_now(paths, notes) -> str:
    """`{{ p|named_now:label_notes }}` (a path or a list of them): each with its note where a
    history's name differs from today's ("birds/european robin (was birds/robin)")."""
    notes = notes or {}
    return ", ".join(
        f"{path} ({notes[path]})" if path in notes else str(path)
        for path in ([paths] if isinstance(paths, str) else list(paths or []))
    )


@register.filter
def percent(value) -> str:
    """`{{ c.segment_f1|percent }}`: a share as the dashboard gives it ("45.9%"), "—" for none
    (the review queue showed raw "0.4589" beside the dashboard's percentages)."""
    if value is None or value == "":
        return "—"
    return f"{100 * float(value):.1f}%"


@register.filter
def segtime(seconds) -> str:
    """`{{ s.start|segtime }}`: a segment's time as stored, 10 ms steps with 2 decimals and
    a clip's own end with 3 ("0.39–0.40 s" was a 0.39–0.3955 s segment, past the clip)."""
    if seconds is None or seconds == "":
        return ""
    t = float(seconds)
    if abs(t * 100 - round(t * 100)) < 1e-6:
        return f"{t:.2f}"
    return f"{math.floor(t * 1000 + 1e-9) / 1000:.3f}"  # down: 0.3955 is not "0.396", past it


@register.filter
def band(segment) -> str:
    """`{{ s|band }}`: a segment's frequency band ("1.2–4 kHz", "0.3–1.5 kHz", "200–800 Hz";
    bandText in static/earmark/bands.js), or "" for one of every frequency; a Segment or a
    revision's segment dict."""
    if isinstance(segment, dict):
        low, high = segment.get("low_freq"), segment.get("high_freq")
    else:
        low, high = getattr(segment, "low_freq", None), getattr(segment, "high_freq", None)
    if low is None or high is None:
        return ""
    if high < 1000:
        return f"{round(low)}–{round(high)} Hz"
    return f"{round(low / 1000, 2):g}–{round(high / 1000, 2):g} kHz"
