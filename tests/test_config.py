"""Run config YAML → RunConfig: defaults, relative paths, overrides; errors name the key and the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgeinspect.config import RunConfig, load_run_config
from edgeinspect.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "configs" / "line3.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_run_config_values_and_paths_relative_to_the_file(tmp_path):
    path = write(tmp_path, """
camera: genicam:SN42
camera_config: cams/line3.yaml
calib: ../calib/line3.yaml
engine: /opt/engines/lite
lines: 20000
overlap_px: 16
scale: 0.5
batch_size: 8
threshold: 0.4
detect_threshold: 0.7
queue_size: 4
mask_png_every_lines: 4096
overlays: false
source_options:
  line_rate_hz: 20000
  cti: vendor/gentl.cti
""")
    config = load_run_config(path)
    assert config.camera == "genicam:SN42"
    assert config.camera_config == path.parent / "cams" / "line3.yaml"
    assert config.calib == path.parent / ".." / "calib" / "line3.yaml"
    assert config.engine == Path("/opt/engines/lite")
    assert (config.lines, config.duration_s, config.overlap_px, config.scale) == (20000, None, 16, 0.5)
    assert (config.batch_size, config.threshold, config.detect_threshold, config.queue_size) == (8, 0.4, 0.7, 4)
    assert config.mask_png_every_lines == 4096 and config.overlays is False
    assert config.source_options == {"line_rate_hz": 20000, "cti": path.parent / "vendor" / "gentl.cti"}
    assert config.config_path == path
    # CLI overrides: None keeps the file's value
    changed = config.replace(batch_size=2, lines=None)
    assert changed.batch_size == 2 and changed.lines == 20000


def test_a_relative_replay_camera_is_relative_to_the_file_too(tmp_path):
    assert load_run_config(write(tmp_path, "camera: replay:../webs/aitex\n")).camera == \
        f"replay:{tmp_path / 'configs' / '..' / 'webs' / 'aitex'}"
    assert load_run_config(write(tmp_path, "camera: replay:/data/webs\n")).camera == "replay:/data/webs"
    assert load_run_config(write(tmp_path, "camera: replay:~/webs\n")).camera == f"replay:{Path.home() / 'webs'}"


def test_empty_file_gives_the_defaults(tmp_path):
    config = load_run_config(write(tmp_path, ""))
    assert dataclasses.replace(config, config_path=None) == RunConfig()


@pytest.mark.parametrize("text, message", [
    ("batch_sise: 4\n", "unknown key 'batch_sise'"),
    ("batch_size: 0\n", "key 'batch_size' must be >= 1, got 0"),
    ("batch_size: 2.5\n", "key 'batch_size' must be an integer"),
    ("scale: 2\n", "key 'scale' must be <= 1"),
    ("threshold: 0\n", "key 'threshold' must be > 0"),
    ("detect_threshold: 1.5\n", "key 'detect_threshold' must be <= 1"),
    ("overlays: yes please\n", "key 'overlays' must be true or false"),
    ("lines: 10\nduration_s: 5\n", "keys 'lines' and 'duration_s' exclude each other"),
    ("camera: usb:0\n", "key 'camera'"),
    ("source_options:\n  widht: 10\n", "unknown key 'source_options.widht'"),
    ("camera: [sim]\n", "key 'camera' must be a non-empty string"),
    ("merge_gap_px: -1\n", "key 'merge_gap_px' must be >= 0, got -1"),
    ("merge_gap_px: 1.5\n", "key 'merge_gap_px' must be an integer"),
    ("merge_gap_px: 65\n", "key 'merge_gap_px' must be <= 64, got 65"),
    ("area_from: pixels\n", "key 'area_from' must be one of probability, mask, got 'pixels'"),
    ("post_thread: 1\n", "key 'post_thread' must be true or false"),
    ("overlay_policy: always\n", "key 'overlay_policy' must be one of auto, wait, skip, got 'always'"),
    ("engine_streams: 0\n", "key 'engine_streams' must be >= 1, got 0"),
    ("engine_streams: 1.5\n", "key 'engine_streams' must be an integer"),
    ("engine_threads: 100000\n", "key 'engine_threads' must be <= 256, got 100000"),
    ("engine_threads: 99999999999999999999999\n", "key 'engine_threads' must be <= 256"),
    ("engine_threads: " + "9" * 400 + "\n", "key 'engine_threads' must be finite, got 9999"),  # no float holds it: OverflowError
    ("duration_s: 1" + "0" * 400 + "\n", "key 'duration_s' must be finite, got 1000"),  # float() of it: OverflowError
    ("batch_size: 100000\n", "key 'batch_size' must be <= 256, got 100000"),
    ("lines: 10\n  bad indent: [\n", "not valid YAML"),
    ("source_options:\n  width: abc\n", "key 'source_options.width' must be an integer, got 'abc'"),
    ("source_options:\n  width: 99999999999\n", "key 'source_options.width' must be <= 65536, got 99999999999"),
    ("source_options:\n  lines_per_frame: 0\n", "key 'source_options.lines_per_frame' must be > 0, got 0"),
    ("source_options:\n  line_rate_hz: fast\n", "key 'source_options.line_rate_hz' must be a number, got 'fast'"),
    ("source_options:\n  defects_per_mpx: abc\n", "key 'source_options.defects_per_mpx' must be a number"),
    ("source_options:\n  seed: 1.5\n", "key 'source_options.seed' must be an integer"),
    ("source_options:\n  texture: 3\n", "key 'source_options.texture' must be a non-empty string, got 3"),
])
def test_bad_run_config_is_one_line_naming_key_and_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    assert message in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)


def test_merge_gap_is_read_and_its_default_is_the_trackers(tmp_path):
    from edgeinspect.stream.tracker import DEFAULT_MERGE_GAP_PX

    assert load_run_config(write(tmp_path, "merge_gap_px: 0\n")).merge_gap_px == 0
    assert load_run_config(write(tmp_path, "merge_gap_px: 5\n")).merge_gap_px == 5
    assert RunConfig().merge_gap_px == DEFAULT_MERGE_GAP_PX == 2


def test_area_from_and_post_thread_are_read_with_their_defaults(tmp_path):
    assert (RunConfig().area_from, RunConfig().post_thread) == ("probability", True)
    config = load_run_config(write(tmp_path, "area_from: mask\npost_thread: false\n"))
    assert (config.area_from, config.post_thread) == ("mask", False)


def test_engine_streams_is_read_and_auto_is_two_capped_at_a_faked_8_core_count(tmp_path, monkeypatch):
    from edgeinspect import sysinfo
    from edgeinspect.config import resolve_streams

    assert RunConfig().engine_streams is None
    assert load_run_config(write(tmp_path, "engine_streams: 3\n")).engine_streams == 3
    assert resolve_streams(3) == 3
    monkeypatch.setattr(sysinfo, "usable_cores", lambda: 8)
    assert resolve_streams(None) == 2
    assert resolve_streams(None, 1) == 1  # --threads 1: one engine thread, so one stream
    assert resolve_streams(None, 4) == 2
    monkeypatch.setattr(sysinfo, "usable_cores", lambda: 1)
    assert resolve_streams(None) == 1


def test_overlay_policy_is_read_with_its_default(tmp_path):
    assert RunConfig().overlay_policy == "auto"
    assert load_run_config(write(tmp_path, "overlay_policy: skip\n")).overlay_policy == "skip"


def test_missing_run_config_names_the_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: run config file not found"):
        load_run_config(tmp_path / "nope.yaml")


def test_a_run_config_that_is_not_text_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError) as info:
        load_run_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a text (UTF-8) file, byte 0") and "\n" not in message
