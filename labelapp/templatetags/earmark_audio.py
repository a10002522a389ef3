"""Template filters for audio: a channel's name as the workspace's lanes show it."""

from __future__ import annotations

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
