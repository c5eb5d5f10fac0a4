"""The streaming run: one record per defect across seams and frames, counted drops, summary, truth."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgeinspect import backends
from edgeinspect.acquire import Frame, open_source
from edgeinspect.config import RunConfig
from edgeinspect.data.packed_mask import unpack_mask
from edgeinspect.data.synth import MAX_DEFECT_LINES, SyntheticWeb
from edgeinspect.stream.area import AreaEstimator, Calibration
from edgeinspect.stream.runner import Pipeline, PipelineSettings, run_inspection
from edgeinspect.stream.sinks import DefectSinks

CALIB = Calibration(path=None, mm_per_px_poly=(0.1,), mm_per_line=0.1, reject_area_mm2=1.0,
                    significant_area_mm2=0.25)


def frames_of(web: np.ndarray, lines_per_frame: int, first_line: int = 0):
    for k, start in enumerate(range(0, web.shape[0], lines_per_frame)):
        yield Frame(lines=web[start:start + lines_per_frame], first_line=first_line + start,
                    timestamp_ns=0, frame_id=k, bit_depth=8)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("post_thread", [False, True])
def test_defect_across_tile_seams_and_frames_is_one_record(tmp_path, identity_engine, post_thread):
    web = np.zeros((400, 300), np.uint8)
    web[50:170, 100:140] = 255   # crosses frame boundaries (64, 128), tile seams across and along
    web[300:305, 10:12] = 255    # a second, small defect
    with DefectSinks(tmp_path, overlays=True) as sinks:
        pipeline = Pipeline(identity_engine, AreaEstimator(CALIB, 300), sinks,
                            settings=PipelineSettings(overlap_px=16, batch_size=5), post_thread=post_thread)
        for frame in frames_of(web, 64, first_line=10_000):
            pipeline.process(frame)
        pipeline.end_segment()
        pipeline.close()
    records = read_jsonl(tmp_path / "defects.jsonl")
    assert len(records) == 2
    big, small = records
    assert big["bbox_px"] == [100, 10_050, 140, 10_170] and big["area_px"] == 120 * 40
    assert big["area_mm2"] == pytest.approx(120 * 40 * 0.01) and big["verdict"] == "reject"
    assert big["first_line"] == 10_050 and big["last_line"] == 10_169 and not big["truncated"]
    assert small["bbox_px"] == [10, 10_300, 12, 10_305] and small["verdict"] == "accept"
    assert sorted(p.name for p in (tmp_path / "overlays").iterdir()) == ["defect_000001.png", "defect_000002.png"]
    assert pipeline.segments == [(10_000, 10_400)]


@pytest.mark.parametrize("merge_gap_px, records", [(2, 1), (0, 3)])
def test_crack_broken_at_a_frame_boundary_and_a_tile_seam_is_one_record(tmp_path, identity_engine, merge_gap_px,
                                                                        records):
    # 64×64 tiles, overlap 16: a column seam at x = 104 and a row seam at line 104; frames of 64 lines
    web = np.zeros((300, 300), np.uint8)
    web[40:64, 103:105] = 255    # a 2-px crack along the web, straddling the column seam ...
    web[66:104, 103:105] = 255   # ... broken for 2 lines at the frame boundary (lines 64, 65) ...
    web[106:181, 103:105] = 255  # ... and for 2 lines at the row seam (lines 104, 105)
    with DefectSinks(tmp_path, overlays=False) as sinks:
        pipeline = Pipeline(identity_engine, AreaEstimator(CALIB, 300), sinks,
                            settings=PipelineSettings(overlap_px=16, batch_size=3, merge_gap_px=merge_gap_px))
        for frame in frames_of(web, 64, first_line=10_000):
            pipeline.process(frame)
        pipeline.end_segment()
    found = read_jsonl(tmp_path / "defects.jsonl")
    assert len(found) == records
    assert sum(r["area_px"] for r in found) == 2 * (24 + 38 + 75)
    if records == 1:
        assert found[0]["bbox_px"] == [103, 10_040, 105, 10_181]
        assert found[0]["area_mm2"] == pytest.approx(2 * (24 + 38 + 75) * 0.01)


def test_twelve_bit_frames_are_scaled_before_the_engine(tmp_path, identity_engine):
    web = np.full((128, 96), 1000, np.uint16)
    web[20:40, 10:20] = 4095   # → 255.0 → prob 1.0: a defect
    web[80:90, 50:60] = 2000   # → 124.5 → prob 0.488 < 0.5: not a defect
    frames = [Frame(lines=web[s:s + 64], first_line=s, timestamp_ns=0, frame_id=k, bit_depth=12)
              for k, s in enumerate((0, 64))]
    with DefectSinks(tmp_path, overlays=True) as sinks:
        pipeline = Pipeline(identity_engine, AreaEstimator(CALIB, 96), sinks, settings=PipelineSettings(threshold=0.5))
        for frame in frames:
            pipeline.process(frame)
        pipeline.end_segment()
    records = read_jsonl(tmp_path / "defects.jsonl")
    assert [r["bbox_px"] for r in records] == [[10, 20, 20, 40]]
    assert records[0]["max_prob"] == pytest.approx(1.0)


def test_gap_in_the_web_ends_the_segment_and_truncates_the_cut_defect(tmp_path, identity_engine):
    web = np.zeros((256, 128), np.uint8)
    web[100:200, 20:30] = 255
    frames = list(frames_of(web, 64))
    del frames[2]  # lines 128..191 lost (dropped): the defect is seen in two parts
    with DefectSinks(tmp_path, overlays=False) as sinks:
        pipeline = Pipeline(identity_engine, AreaEstimator(CALIB, 128), sinks, keep_images=False)
        for frame in frames:
            pipeline.process(frame)
        pipeline.end_segment()
    records = read_jsonl(tmp_path / "defects.jsonl")
    assert [r["bbox_px"] for r in records] == [[20, 100, 30, 128], [20, 192, 30, 200]]
    assert [r["truncated"] for r in records] == [True, False]
    assert pipeline.segments == [(0, 128), (192, 256)]


def test_sim_run_writes_records_truth_and_summary(tmp_path, dark_onnx):
    out = tmp_path / "run"
    config = RunConfig(camera="sim:steel", engine=dark_onnx, out=out, lines=1000, batch_size=8, overlap_px=8,
                       mask_png_every_lines=512, source_options={"width": 256, "lines_per_frame": 128})
    progress = []
    summary = run_inspection(config, progress=progress.append)
    assert summary.stop_reason == "lines" and summary.queue_policy == "block"
    # an offline run (no line rate) waits for the overlay writer: one overlay per record, none skipped
    assert summary.overlay_policy == "wait" and summary.overlays_skipped == 0
    assert len(list((out / "overlays").iterdir())) == summary.defects
    assert (summary.lines, summary.lines_inspected, summary.lines_dropped) == (1000, 1000, 0)
    assert summary.frames == 8 and summary.width_px == 256  # 7 frames of 128 + one cut to 104 lines
    # the source's own counters travel with the run: nothing lost before the queue
    assert summary.source_stats["frames_lost"] == 0 and summary.source_stats["lines_lost"] == 0
    assert summary.source_stats["frames"] >= summary.frames
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary.to_json()))
    records = read_jsonl(out / "defects.jsonl")
    assert summary.defects == len(records) > 0
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    assert all(0 <= r["bbox_px"][1] < r["bbox_px"][3] <= 1000 for r in records)
    truth = read_jsonl(out / "truth.jsonl")
    with open_source("sim:steel", width=256) as sim:
        assert {t["id"] for t in truth} == {d.id for d in sim.truth_defects(0, 1000)}
    # a true defect wholly inside [0, 1000) is 'inside', one reaching past line 1000 is not
    assert all(t["inside"] == (t["bbox_px"][3] <= 1000) for t in truth)
    # both files carry each defect's pixels over its box (what eval --run shares areas by)
    for record in records:
        x0, y0, x1, y1 = record["bbox_px"]
        pixels = unpack_mask(record["mask_b64"], (y1 - y0, x1 - x0))
        assert int(pixels.sum()) == record["area_px"] and pixels[0].any() and pixels[:, 0].any(), record["id"]
    web_ids = SyntheticWeb(256, texture="steel", seed=0).render(0, 1000 + MAX_DEFECT_LINES).defect_ids
    for true in truth:
        x0, y0, x1, y1 = true["bbox_px"]
        np.testing.assert_array_equal(unpack_mask(true["mask_b64"], (y1 - y0, x1 - x0)),
                                      web_ids[y0:y1, x0:x1] == true["id"])
    assert sorted(p.name for p in (out / "masks" / "pred").iterdir()) == ["000000000.png", "000000512.png"]
    assert set(summary.stage_share) == {"acquire", "tile", "infer", "stitch", "track", "sinks"}
    assert sum(summary.stage_share.values()) == pytest.approx(1.0, abs=1e-3)
    assert progress and progress[-1].lines == 1000 and progress[-1].defects == summary.defects


def test_post_thread_writes_the_same_records_as_the_main_thread(tmp_path, dark_onnx):
    """Stitch/track/sinks in their own thread: same defects, ids, truth and overlays as in the main thread."""
    outs = {}
    for post_thread in (False, True):
        out = outs[post_thread] = tmp_path / f"post-{post_thread}"
        config = RunConfig(camera="sim:carbon", engine=dark_onnx, out=out, lines=1500, batch_size=3, overlap_px=8,
                           post_thread=post_thread, source_options={"width": 256, "lines_per_frame": 100})
        summary = run_inspection(config, handle_signals=False)
        assert summary.defects > 0 and summary.stage_s["track"] > 0 and summary.stage_s["stitch"] > 0
    for name in ("defects.jsonl", "defects.csv", "truth.jsonl"):
        assert (outs[True] / name).read_text() == (outs[False] / name).read_text(), name
    overlays = sorted(p.name for p in (outs[False] / "overlays").iterdir())
    assert overlays and overlays == sorted(p.name for p in (outs[True] / "overlays").iterdir())
    assert all((outs[True] / "overlays" / n).read_bytes() == (outs[False] / "overlays" / n).read_bytes()
               for n in overlays)


class FailingSinksDouble(DefectSinks):
    """Test double: real sinks whose third record fails to be written (a full disk, on purpose)."""

    def write(self, defect, blob=None, *, flush=True):
        if self.count == 2:
            raise OSError(28, "No space left on device")
        super().write(defect, blob, flush=flush)


def test_an_error_in_the_post_thread_from_a_failing_sinks_double_reaches_the_main_thread_with_the_records_before_it(tmp_path, identity_engine):
    web = np.zeros((640, 128), np.uint8)
    for k in range(5):
        web[40 + 120 * k:60 + 120 * k, 20:40] = 255  # five defects, one every 120 lines
    with FailingSinksDouble(tmp_path, overlays=False) as sinks:
        pipeline = Pipeline(identity_engine, AreaEstimator(CALIB, 128), sinks, keep_images=False, post_thread=True,
                            settings=PipelineSettings(overlap_px=8, batch_size=2))
        with pytest.raises(OSError, match="No space left"):
            for frame in frames_of(web, 64):
                pipeline.process(frame)
            pipeline.end_segment()
            pipeline.close()
        pipeline.close()  # raised once: closing again (the runner's exit path) is quiet
    assert [r["bbox_px"][1] for r in read_jsonl(tmp_path / "defects.jsonl")] == [40, 160]


class ThrottledEngineDouble:
    """Test double: a real engine made deliberately slower than the line rate (sleeps per batch)."""

    def __init__(self, engine, delay_s: float) -> None:
        self.engine, self.delay_s = engine, delay_s
        self.tile_hw = engine.tile_hw
        self.backend = "throttled-double"

    def infer(self, batch):
        time.sleep(self.delay_s)
        return self.engine.infer(batch)


def test_a_throttled_engine_double_slower_than_the_line_rate_gives_counted_drops(tmp_path, identity_engine):
    out = tmp_path / "slow"
    # 256 px × 64-line frames at 40 000 lines/s: 625 frames/s; the engine needs ≥ 25 ms per batch
    source = open_source("sim", width=256, lines_per_frame=64, line_rate_hz=40_000)
    config = RunConfig(out=out, lines=3200, queue_size=2, batch_size=16, overlays=False)
    summary = run_inspection(config, engine=ThrottledEngineDouble(identity_engine, 0.025), source=source)
    assert summary.queue_policy == "drop" and summary.overlay_policy == "skip"
    assert summary.frames_dropped > 0 and summary.lines_dropped == 64 * summary.frames_dropped
    assert summary.lines == 3200 == summary.lines_inspected + summary.lines_dropped
    assert summary.frames == summary.frames_inspected + summary.frames_dropped
    assert json.loads((out / "summary.json").read_text())["frames_dropped"] == summary.frames_dropped


def test_stop_event_stops_a_run_cleanly(tmp_path, identity_engine):
    stop = threading.Event()
    source = open_source("sim", width=128, lines_per_frame=64, line_rate_hz=20_000)
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    summary = run_inspection(RunConfig(out=tmp_path / "r", overlays=False), engine=identity_engine, source=source,
                             stop_event=stop, handle_signals=False)
    timer.cancel()
    assert summary.stop_reason == "stopped" and summary.lines_inspected > 0
    assert (tmp_path / "r" / "summary.json").is_file()


def test_out_folder_holding_a_run_is_refused(tmp_path, identity_engine):
    from edgeinspect.errors import EdgeInspectError

    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(EdgeInspectError, match="already holds a run"):
        run_inspection(RunConfig(out=tmp_path, lines=64), engine=identity_engine)


def test_two_engine_streams_write_the_same_records_as_one(tmp_path, dark_onnx):
    """2 ORT calls in flight (1 thread each) vs 1 call of 1 thread: byte-identical records, truth, overlays."""
    from edgeinspect import backends

    outs = {}
    for streams in (1, 2):
        out = outs[streams] = tmp_path / f"streams-{streams}"
        engine = backends.load(dark_onnx, threads=streams, concurrent_calls=streams)
        config = RunConfig(camera="sim:carbon", out=out, lines=1500, batch_size=3, overlap_px=8,
                           source_options={"width": 256, "lines_per_frame": 100})
        summary = run_inspection(config, engine=engine, handle_signals=False)
        assert summary.defects > 0 and summary.engine_streams == streams
    for name in ("defects.jsonl", "defects.csv", "truth.jsonl"):
        assert (outs[2] / name).read_text() == (outs[1] / name).read_text(), name
    overlays = sorted(p.name for p in (outs[1] / "overlays").iterdir())
    assert overlays == sorted(p.name for p in (outs[2] / "overlays").iterdir())


class OutOfOrderEngineDouble:
    """Test double: a real engine taking 3 concurrent calls whose results come back out of order
    on purpose (each call sleeps a pseudo-random 0–8 ms), so later batches often finish first."""

    concurrent_calls = 3
    backend = "out-of-order-double"

    def __init__(self, engine, *, fail_at_call: int | None = None) -> None:
        self.engine, self.tile_hw = engine, engine.tile_hw
        self.fail_at_call = fail_at_call
        self._calls = 0
        self._lock = threading.Lock()

    def infer(self, batch):
        with self._lock:
            self._calls += 1
            call = self._calls
        if call == self.fail_at_call:
            raise RuntimeError(f"engine failed on call {call}")
        time.sleep((call * 7919 % 9) / 1000)
        return self.engine.infer(batch)


def _run_frames(out, engine, frames, width, *, post_thread=False, overlays=False):
    """Frames through a pipeline (overlap 8, batches of 2) into ``out``: (pipeline, records)."""
    with DefectSinks(out, overlays=overlays) as sinks:
        pipeline = Pipeline(engine, AreaEstimator(CALIB, width), sinks, keep_images=overlays,
                            settings=PipelineSettings(overlap_px=8, batch_size=2), post_thread=post_thread)
        try:
            for frame in frames:
                pipeline.process(frame)
            pipeline.end_segment()
        finally:
            pipeline.close()
    return pipeline, read_jsonl(out / "defects.jsonl")


def _run_web(tmp_path, engine, web, name):
    return _run_frames(tmp_path / name, engine, frames_of(web, 64), web.shape[1])


def test_batches_an_out_of_order_engine_double_finishes_are_post_processed_in_tiling_order(tmp_path, identity_engine):
    web = np.zeros((640, 200), np.uint8)
    for k in range(9):
        web[20 + 70 * k:40 + 70 * k, 10 + 20 * k:30 + 20 * k] = 255  # nine defects down and across the web
    inline, expected = _run_web(tmp_path, identity_engine, web, "inline")
    streamed, records = _run_web(tmp_path, OutOfOrderEngineDouble(identity_engine), web, "streams")
    assert inline.streams == 1 and streamed.streams == 3
    assert len(expected) == 9 and records == expected


def test_an_error_of_a_failing_engine_double_in_a_stream_stops_the_run_with_the_records_before_it(tmp_path, identity_engine):
    web = np.zeros((640, 128), np.uint8)
    for k in range(5):
        web[40 + 120 * k:60 + 120 * k, 20:40] = 255  # five defects, one every 120 lines
    engine = OutOfOrderEngineDouble(identity_engine, fail_at_call=8)  # 18 calls for the whole web
    with pytest.raises(RuntimeError, match="engine failed on call 8"):
        _run_web(tmp_path, engine, web, "failing")
    records = read_jsonl(tmp_path / "failing" / "defects.jsonl")
    assert [r["bbox_px"][1] for r in records] == [40, 160]  # what the calls before the failing one closed


class StallingEngineDouble:
    """Test double: a real engine taking 2 concurrent calls; call number ``stall_call`` waits (up to
    2 s) until a later call starts, so a test can tell whether the pipeline kept feeding the engine."""

    concurrent_calls = 2
    backend = "stalling-double"

    def __init__(self, engine, *, stall_call: int) -> None:
        self.engine, self.tile_hw = engine, engine.tile_hw
        self.stall_call = stall_call
        self.calls = 0
        self.released_by_a_later_call: bool | None = None
        self._later_call = threading.Event()
        self._lock = threading.Lock()

    def infer(self, batch):
        with self._lock:
            self.calls += 1
            call = self.calls
        if call > self.stall_call:
            self._later_call.set()
        if call == self.stall_call:
            self.released_by_a_later_call = self._later_call.wait(timeout=2.0)
        return self.engine.infer(batch)


@pytest.mark.parametrize("post_thread", [False, True])
def test_a_gap_of_dropped_frames_does_not_wait_for_the_batches_a_stalling_engine_double_holds(
        tmp_path, identity_onnx, identity_engine, post_thread):
    web = np.zeros((256, 128), np.uint8)
    web[100:200, 20:30] = 255
    frames = list(frames_of(web, 64))
    del frames[2]  # lines 128..191 dropped: segments [0, 128) and [192, 256)
    with backends.load(identity_onnx, threads=2, concurrent_calls=2) as counting:  # two streams, as `run`'s default
        _run_frames(tmp_path / "first", counting, frames[:2], 128)
        first_segment_calls = counting.stats.calls
    options = dict(post_thread=post_thread, overlays=True)  # image lines kept: their order matters too
    _, expected = _run_frames(tmp_path / "inline", identity_engine, frames, 128, **options)
    # the first segment's last batch is held until the engine gets a batch of the second segment:
    # only a pipeline that does not drain its streams at the gap gives it one
    stalling = StallingEngineDouble(identity_engine, stall_call=first_segment_calls)
    pipeline, records = _run_frames(tmp_path / "streams", stalling, frames, 128, **options)
    assert stalling.released_by_a_later_call is True
    assert pipeline.segments == [(0, 128), (192, 256)]
    assert [r["bbox_px"] for r in records] == [[20, 100, 30, 128], [20, 192, 30, 200]]
    assert records == expected  # post-processed in web order: segment end before the next start
    overlays = sorted(p.name for p in (tmp_path / "streams" / "overlays").iterdir())
    assert overlays == sorted(p.name for p in (tmp_path / "inline" / "overlays").iterdir()) and len(overlays) == 2
    for name in overlays:  # the crops come from the right segment's image lines
        assert (tmp_path / "streams" / "overlays" / name).read_bytes() == (tmp_path / "inline" / "overlays" / name).read_bytes()


def test_records_of_finished_batches_are_written_while_no_frame_comes(tmp_path, identity_onnx):
    web = np.zeros((256, 128), np.uint8)
    web[230:250, 20:30] = 255  # closed only by the tracker's flush at the segment's end
    with backends.load(identity_onnx, threads=2, concurrent_calls=2) as engine, \
            DefectSinks(tmp_path, overlays=False) as sinks:  # two streams, as `run`'s default
        pipeline = Pipeline(engine, AreaEstimator(CALIB, 128), sinks, keep_images=False,
                            settings=PipelineSettings(overlap_px=8, batch_size=2))
        try:
            for frame in frames_of(web, 64):
                pipeline.process(frame)
            pipeline.end_segment()  # a gap, then no frame for a while (a camera reconnecting)
            assert read_jsonl(tmp_path / "defects.jsonl") == []  # the flush waits behind the last batch in flight
            deadline = time.monotonic() + 5.0
            while not read_jsonl(tmp_path / "defects.jsonl") and time.monotonic() < deadline:
                pipeline.poll()  # what the runner does while its frame queue is empty
                time.sleep(0.01)
            assert [r["bbox_px"] for r in read_jsonl(tmp_path / "defects.jsonl")] == [[20, 230, 30, 250]]
        finally:
            pipeline.close()


def test_a_true_defect_is_inside_only_when_one_inspected_segment_holds_it_whole():
    from edgeinspect.assets import default_calibration
    from edgeinspect.stream.area import load_calibration
    from edgeinspect.stream.runner import collect_truth

    area = AreaEstimator(load_calibration(default_calibration()), 512)
    with open_source("sim:carbon", width=512) as sim:
        # a run's segments (in any order; gaps at 3000..3400 and 5000..6000), then overlapping spans
        for segments in ([(6000, 9000), (0, 3000), (3400, 5000)], [(0, 3000), (2000, 5000), (100, 200)]):
            truths = collect_truth(sim, segments, area)
            every = {d.id: d for first, stop in segments for d in sim.truth_defects(first, stop)}
            assert [t.id for t in truths] == sorted(every, key=lambda i: (every[i].bbox[1], every[i].bbox[0], i))
            for truth in truths:
                y0, y1 = truth.bbox_px[1], truth.bbox_px[3]
                assert truth.inside == any(first <= y0 and y1 <= stop for first, stop in segments), (segments, truth)
            if segments[1] != (2000, 5000):
                assert {True, False} <= {t.inside for t in truths}  # defects cut by the gaps and the ends are there
            crossing = [t for t in truths if t.bbox_px[1] < 3000 < t.bbox_px[3]]
            assert crossing and any(t.inside for t in crossing) == (segments[1] == (2000, 5000))


def _true_defects(path: Path) -> dict[tuple, tuple]:
    """``truth.jsonl`` as {bbox: (inside, area_px, pixels)}: what both kinds of truth must agree on."""
    found = {}
    for t in read_jsonl(path):
        x0, y0, x1, y1 = t["bbox_px"]
        found[tuple(t["bbox_px"])] = (t["inside"], t["area_px"], unpack_mask(t["mask_b64"], (y1 - y0, x1 - x0)).tobytes())
    return found


def test_a_replayed_folder_with_masks_has_the_truth_of_the_web_it_was_cut_from(tmp_path, dark_onnx):
    """synth cuts a web into images + masks; replaying them (frames of 100 lines across 64-line images)
    gives, from the masks alone, the sim's own truth of the same lines: defects merged across images."""
    from edgeinspect.data.synth import write_synth_dataset

    data = write_synth_dataset(tmp_path / "ds", count=12, size_hw=(64, 256), texture="carbon", seed=0,
                               defects_per_mpx=150)
    replay = RunConfig(camera=f"replay:{data}", engine=dark_onnx, out=tmp_path / "replay", overlap_px=8,
                       source_options={"lines_per_frame": 100})
    sim = RunConfig(camera="sim:carbon", engine=dark_onnx, out=tmp_path / "sim", lines=12 * 64, overlap_px=8,
                    source_options={"width": 256, "seed": 0, "defects_per_mpx": 150})
    for config in (replay, sim):
        run_inspection(config, handle_signals=False)
    from_masks, from_sim = _true_defects(tmp_path / "replay" / "truth.jsonl"), _true_defects(tmp_path / "sim" / "truth.jsonl")
    # on the replayed web's first or last line a defect may go on beyond the images: not scored there
    on_edge = {box for box in from_masks if box[1] == 0 or box[3] == 12 * 64}
    assert on_edge and not any(from_masks[box][0] for box in on_edge)
    assert {b: v for b, v in from_masks.items() if b not in on_edge} == {
        b: v for b, v in from_sim.items() if b[1] != 0 and b[3] < 12 * 64}
    assert len(from_masks) >= 10
    assert any(box[1] < 64 * k < box[3] for box in from_masks for k in range(1, 12))  # some cross an image edge
    assert {t["kind"] for t in read_jsonl(tmp_path / "replay" / "truth.jsonl")} == {None}  # masks know no kind
    from edgeinspect.stream.score import score_run

    assert score_run(tmp_path / "replay")["truth"] == len(from_masks)


def test_mask_truth_cuts_defects_at_gaps_and_knows_nothing_when_a_frame_has_no_mask():
    from edgeinspect.stream.mask_truth import MaskTruth

    area = AreaEstimator(CALIB, 32)
    web = np.zeros((40, 32), bool)
    web[0:3, 2:5] = True     # touches the web's first line: whole
    web[8:14, 10:12] = True  # crosses line 10, where a gap of dropped frames will be
    web[20:23, 15:18] = True  # on the first line after the gap: its top may have been dropped
    web[22:26, 20:30] = True  # whole, inside the second segment
    web[36:40, 0:2] = True   # touches the last inspected line
    truth = MaskTruth(area)
    for first in (0, 5, 20, 30):  # lines 10..19 dropped
        truth.add(first, web[first:first + (5 if first < 10 else 10)])
    truth.end_segment()
    records = truth.records()
    assert [(r.bbox_px, r.inside) for r in records] == [  # on a first or last inspected line: may go on beyond
        ((2, 0, 5, 3), False), ((10, 8, 12, 10), False), ((15, 20, 18, 23), False), ((20, 22, 30, 26), True),
        ((0, 36, 2, 40), False)]
    assert [r.id for r in records] == [1, 2, 3, 4, 5] and all(r.kind is None for r in records)
    assert [r.area_px for r in records] == [9, 4, 9, 40, 8]
    truth.add(40, None)  # an image without a mask: the web's truth is no longer known
    assert truth.records() is None


def test_mask_truth_pieces_of_a_defect_longer_than_the_band_are_none_of_them_inside():
    from edgeinspect.stream.mask_truth import MaskTruth

    web = np.zeros((100, 16), bool)
    web[5:100, 3:6] = True  # 95 lines, the band holds 40
    truth = MaskTruth(AreaEstimator(CALIB, 16), max_band_lines=40)
    for first in range(0, 100, 10):
        truth.add(first, web[first:first + 10])
    truth.end_segment()
    records = truth.records()
    assert len(records) >= 2 and sum(r.area_px for r in records) == 95 * 3
    assert not any(r.inside for r in records)  # every piece is part of one longer defect


def test_a_replay_with_an_image_missing_its_mask_writes_no_truth_and_says_why(tmp_path, dark_onnx, caplog):
    from edgeinspect.data.synth import write_synth_dataset

    data = write_synth_dataset(tmp_path / "ds", count=4, size_hw=(64, 128), texture="carbon", seed=2,
                               defects_per_mpx=150)
    (data / "masks" / "000002.png").unlink()
    config = RunConfig(camera=f"replay:{data}", engine=dark_onnx, out=tmp_path / "run", overlap_px=8,
                       source_options={"lines_per_frame": 64})
    with caplog.at_level("WARNING", logger="edgeinspect.stream"):
        run_inspection(config, handle_signals=False)
    assert not (tmp_path / "run" / "truth.jsonl").exists()
    assert "truth.jsonl not written: 1 of 4 frames had no true mask" in caplog.text
