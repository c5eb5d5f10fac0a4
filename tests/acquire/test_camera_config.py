"""Camera YAML → CameraConfig → the ordered SFNC node writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeinspect.acquire import CameraConfig, TriggerConfig, bit_depth_of, load_camera_config
from edgeinspect.acquire.nodes import settings_from_config
from edgeinspect.errors import ConfigError

FULL = """\
camera:
  cti: vendor/gentl.cti
  device: 22012345
  width: 4096
  lines_per_frame: 512
  pixel_format: Mono12p
  line_rate_hz: 20000
  exposure_time_us: 40.5
  reverse_x: true
  trigger:
    mode: On
    source: Encoder0
  encoder_chunk: true
  nodes:
    EncoderDivider: 4
    EncoderMode: FourPhase
  fetch_timeout_s: 0.5
  max_timeouts: null
  reconnect_attempts: 3
  backoff_s: [0.25, 1]
  num_buffers: 32
"""


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "line3.yaml"
    path.write_text(text)
    return path


def test_camera_yaml_reads_every_key(tmp_path):
    path = _yaml(tmp_path, FULL)
    config = load_camera_config(path)
    assert config == CameraConfig(
        cti=tmp_path / "vendor" / "gentl.cti", device="22012345", width=4096, lines_per_frame=512,
        pixel_format="Mono12p", line_rate_hz=20000.0, exposure_time_us=40.5, reverse_x=True,
        trigger=TriggerConfig(selector="LineStart", mode="On", source="Encoder0"), encoder_chunk=True,
        nodes=(("EncoderDivider", 4), ("EncoderMode", "FourPhase")), fetch_timeout_s=0.5, max_timeouts=None,
        reconnect_attempts=3, backoff_s=(0.25, 1.0), num_buffers=32, path=path)


def test_camera_yaml_becomes_node_writes_in_a_safe_order(tmp_path):
    settings = settings_from_config(load_camera_config(_yaml(tmp_path, FULL)))
    assert [(s.node, s.value) for s in settings] == [
        ("ReverseX", True), ("PixelFormat", "Mono12p"), ("Width", 4096), ("Height", 512),
        ("ExposureTime", 40.5), ("AcquisitionLineRateEnable", True), ("AcquisitionLineRate", 20000.0),
        ("TriggerSelector", "LineStart"), ("TriggerMode", "On"), ("TriggerSource", "Encoder0"),
        ("ChunkSelector", "EncoderValue"), ("ChunkEnable", True), ("ChunkModeActive", True),
        ("EncoderDivider", 4), ("EncoderMode", "FourPhase")]
    assert [(s.node, s.depends_on) for s in settings if s.depends_on] == [
        ("ChunkEnable", "ChunkSelector"), ("ChunkModeActive", "ChunkEnable")]
    assert [s.node for s in settings if s.optional] == ["AcquisitionLineRateEnable"]


def test_empty_camera_yaml_sets_no_node(tmp_path):
    config = load_camera_config(_yaml(tmp_path, ""))
    assert settings_from_config(config) == [] and config.max_timeouts == 5 and config.backoff_s == (0.5, 1, 2, 4)


@pytest.mark.parametrize(("text", "expected"), [
    ("trigger: off\n", TriggerConfig(mode="Off", source=None)),
    ("trigger: false\n", TriggerConfig(mode="Off", source=None)),
    ("trigger: true\n", TriggerConfig()),
    ("trigger: {mode: 'Off'}\n", TriggerConfig(mode="Off", source=None)),
    ("trigger: {selector: FrameStart, source: Line1, activation: RisingEdge}\n",
     TriggerConfig(selector="FrameStart", source="Line1", activation="RisingEdge")),
])
def test_trigger_forms(tmp_path, text, expected):
    assert load_camera_config(_yaml(tmp_path, text)).trigger == expected


@pytest.mark.parametrize(("text", "message"), [
    ("widht: 4096\n", "unknown key 'widht'; valid keys: cti, device, width"),
    ("width: -4\n", "key 'width' must be an integer >= 1, got -4"),
    ("width: 4096.5\n", "key 'width' must be an integer >= 1"),
    ("pixel_format: RGB8\n", "key 'pixel_format' must be one of Mono8, Mono10"),
    ("line_rate_hz: 0\n", "key 'line_rate_hz' must be a finite number > 0"),
    ("reverse_x: 1\n", "key 'reverse_x' must be true or false"),
    ("trigger: {mode: Maybe}\n", "key 'trigger.mode' must be \"On\" or \"Off\""),
    ("trigger: {sauce: Line1}\n", "unknown key 'trigger.sauce'"),
    ("nodes: [a, b]\n", "key 'nodes' must be a mapping"),
    ("backoff_s: []\n", "key 'backoff_s' must be a number >= 0 or a non-empty list"),
    ("num_buffers: 99999999999\n", "key 'num_buffers' must be an integer in 1..256, got 99999999999"),
    ("num_buffers: 0\n", "key 'num_buffers' must be an integer in 1..256, got 0"),
    ("width: [\n", "not valid YAML"),
    ("- 1\n- 2\n", "expected a mapping of camera keys"),
])
def test_bad_camera_yaml_names_file_and_key(tmp_path, text, message):
    path = _yaml(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_camera_config(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_missing_camera_yaml_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="camera config not found"):
        load_camera_config(tmp_path / "nope.yaml")


def test_bit_depth_of_pixel_formats():
    assert [bit_depth_of(f) for f in ("Mono8", "Mono10p", "Mono12Packed", "Mono12", "Mono14", "Mono16")] == \
        [8, 10, 12, 12, 14, 16]
    assert bit_depth_of("RGB8") is None and bit_depth_of("BayerRG8") is None
