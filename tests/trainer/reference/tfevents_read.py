"""Reads a TensorBoard event file independently of agreid (tests/trainer/metrics_test.cc).

Uses tensorboard's own reader when it is installed; otherwise parses the TFRecord framing (with
its masked CRC-32C checks) and the few Event/Summary protobuf fields by hand. Prints one JSON
object per event: {"step", "wall_time", "file_version"?, "scalars": {tag: value}}.

usage: /usr/bin/python3 tfevents_read.py EVENTFILE
"""
import json
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def fields(buf):
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == 2:
            n, pos = varint(buf, pos)
            value = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        yield field, wire, value


def parse_event(data):
    event = {"step": 0, "scalars": {}}
    for field, _, value in fields(data):
        if field == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif field == 2:
            event["step"] = value
        elif field == 3:
            event["file_version"] = value.decode()
        elif field == 5:
            for sfield, _, sval in fields(value):
                if sfield != 1:
                    continue
                tag, simple = None, None
                for vfield, _, vval in fields(sval):
                    if vfield == 1:
                        tag = vval.decode()
                    elif vfield == 2:
                        simple = struct.unpack("<f", vval)[0]
                event["scalars"][tag] = simple
    return event


def read_by_hand(path):
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0
    while pos < len(buf):
        header = buf[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", buf[pos + 8:pos + 12])
        if masked(header) != length_crc:
            raise ValueError("bad length CRC at offset %d" % pos)
        data = buf[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", buf[pos + 12 + length:pos + 16 + length])
        if masked(data) != data_crc:
            raise ValueError("bad data CRC at offset %d" % pos)
        pos += 16 + length
        yield parse_event(data)


def read_with_tensorboard(path):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    for ev in EventFileLoader(path).Load():
        out = {"step": ev.step, "wall_time": ev.wall_time, "scalars": {}}
        if ev.HasField("file_version"):
            out["file_version"] = ev.file_version
        for v in ev.summary.value:
            out["scalars"][v.tag] = v.simple_value if v.HasField("simple_value") else None
        yield out


def main():
    try:
        events = list(read_with_tensorboard(sys.argv[1]))
        reader = "tensorboard"
    except ImportError:
        events = list(read_by_hand(sys.argv[1]))
        reader = "by-hand"
    print(json.dumps({"reader": reader}))
    for e in events:
        print(json.dumps(e, sort_keys=True))


if __name__ == "__main__":
    main()
