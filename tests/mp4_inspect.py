"""Read what an MP4 file says about its video track, from its boxes (ISO/IEC 14496-12).

Independent of ffmpeg: it walks ``moov/trak/mdia/minf/stbl`` and reads the first sample
entry of ``stsd`` (its four-letter codec: ``avc1`` is H.264) with its width and height,
and the sample count of ``stsz`` (one sample per video frame).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


@dataclass
class Mp4VideoTrack:
    codec: str  # the sample entry's type: "avc1" for H.264
    width: int
    height: int
    frames: int  # stsz sample_count
    top_level: list[str]  # top-level boxes in file order ("moov" before "mdat": faststart)


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:  # 64-bit size
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:  # to the end of the file
            size = end - pos
        yield kind, pos + header, pos + size
        pos += size


def video_track(path: Path) -> Mp4VideoTrack:
    data = Path(path).read_bytes()
    top = [kind.decode() for kind, _, _ in _boxes(data, 0, len(data))]
    found: dict[str, object] = {}

    def walk(start: int, end: int) -> None:
        for kind, body, box_end in _boxes(data, start, end):
            if kind in _CONTAINERS:
                walk(body, box_end)
            elif kind == b"stsd" and "codec" not in found:
                entry = body + 8  # version/flags, entry_count
                found["codec"] = data[entry + 4:entry + 8].decode()
                # visual sample entry: 8 header + 6 reserved + 2 index + 16 pre-defined/reserved
                found["width"], found["height"] = struct.unpack(">HH", data[entry + 32:entry + 36])
            elif kind == b"stsz" and "frames" not in found:
                found["frames"] = struct.unpack(">I", data[body + 8:body + 12])[0]

    walk(0, len(data))
    return Mp4VideoTrack(found["codec"], found["width"], found["height"], found["frames"], top)
