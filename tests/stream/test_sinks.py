"""Sinks: records are on disk (flushed) before close; masks cut at multiples of N lines; overlays drawn."""

from __future__ import annotations

import csv
import json
import os

import cv2
import numpy as np
import pytest

from edgeinspect.stream.records import DEFECT_CSV_COLUMNS, Blob, Defect, TruthDefect
from edgeinspect.stream.sinks import DefectSinks, MaskWriter, overlay_image


def make_defect(i: int) -> Defect:
    return Defect(id=i, first_line=10 * i, last_line=10 * i + 4, bbox_px=(1, 10 * i, 4, 10 * i + 5),
                  bbox_mm=(0.1, i * 1.0, 0.4, i * 1.0 + 0.5), area_px=12, area_mm2=0.12, area_mm2_min=0.096,
                  area_mm2_max=0.144, mask_area_mm2=0.12, length_mm=0.5, width_mm=0.3, max_prob=0.9, mean_prob=0.7, kind=None,
                  verdict="accept")


def make_blob(i: int) -> Blob:
    mask = np.zeros((5, 3), bool)
    mask[1:4, :] = True
    image = np.full((15, 13), 120, np.uint8)
    return Blob(bbox_px=(1, 10 * i, 4, 10 * i + 5), mask=mask, prob=mask.astype(np.float32), image=image,
                image_origin=(0, 10 * i - 5))


def test_records_are_flushed_per_defect_before_close(tmp_path):
    sinks = DefectSinks(tmp_path, overlays=True)
    sinks.write(make_defect(1), make_blob(1))
    # read while the sink is still open: the record must already be on disk
    lines = (tmp_path / "defects.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["bbox_px"] == [1, 10, 4, 15]
    rows = list(csv.reader((tmp_path / "defects.csv").open()))
    assert rows[0] == list(DEFECT_CSV_COLUMNS) and rows[1][0] == "1" and rows[1][DEFECT_CSV_COLUMNS.index("verdict")] == "accept"
    sinks.write(make_defect(2), make_blob(2))
    assert len((tmp_path / "defects.jsonl").read_text().splitlines()) == 2
    sinks.close()
    sinks.close()  # idempotent
    assert sinks.count == 2 and sinks.overlays_skipped == 0
    # overlays are written by a background thread; close() waits for them
    assert sorted(p.name for p in (tmp_path / "overlays").iterdir()) == ["defect_000001.png", "defect_000002.png"]


def test_records_written_together_are_on_disk_after_one_flush(tmp_path):
    with DefectSinks(tmp_path, overlays=False) as sinks:
        for i in (1, 2, 3):
            sinks.write(make_defect(i), flush=False)  # closed by the same strip
        sinks.flush()
        # read while the sink is still open: all three are on disk
        assert [json.loads(line)["id"] for line in (tmp_path / "defects.jsonl").read_text().splitlines()] == [1, 2, 3]
        assert [row[0] for row in csv.reader((tmp_path / "defects.csv").open())][1:] == ["1", "2", "3"]
    assert sinks.count == 3


def test_overlays_behind_are_skipped_and_counted_records_never(tmp_path):
    sinks = DefectSinks(tmp_path, overlays=True, overlay_backlog=0)  # the writer is always "behind"
    for i in range(1, 4):
        sinks.write(make_defect(i), make_blob(i))
    sinks.close()
    assert sinks.count == 3 and len((tmp_path / "defects.jsonl").read_text().splitlines()) == 3
    assert sinks.overlays_skipped == 3 and not any((tmp_path / "overlays").iterdir())


@pytest.mark.parametrize("backlog", [0, 1])
def test_an_offline_run_waits_for_the_overlay_writer_and_skips_none(tmp_path, backlog):
    # with a backlog of 0 the writer is always "behind": wait_for_overlays waits instead of skipping
    with DefectSinks(tmp_path, overlays=True, overlay_backlog=backlog, wait_for_overlays=True) as sinks:
        for i in range(1, 7):
            sinks.write(make_defect(i), make_blob(i), flush=i % 3 == 0)  # also inside a batch of 3
    assert sinks.count == 6 and sinks.overlays_skipped == 0
    assert sorted(p.name for p in (tmp_path / "overlays").iterdir()) == [f"defect_{i:06d}.png" for i in range(1, 7)]


def test_overlay_draws_the_contour_in_red():
    overlay = overlay_image(make_blob(1), min_side_px=0)
    assert overlay.shape == (15, 13, 3)
    red = (overlay[:, :, 2] == 255) & (overlay[:, :, 0] == 0)
    ys, xs = np.nonzero(red)
    # mask rows 1..3 of the 5-line box at image offset (1, 5): contour rows 6..8, columns 1..3
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (6, 8, 1, 3)
    assert overlay[0, 0].tolist() == [120, 120, 120]
    enlarged = overlay_image(make_blob(1), min_side_px=64)
    assert enlarged.shape == (15 * 4, 13 * 4, 3)


def test_mask_files_cut_at_multiples_of_n_and_at_gaps(tmp_path):
    writer = MaskWriter(tmp_path / "pred", every_lines=100)
    mask = np.zeros((60, 8), bool)
    mask[5, 2] = True
    for first in (30, 90, 150):  # lines 30..209
        writer.add(first, mask)
    writer.add(400, mask[:10])  # gap: 210..399 missing
    writer.close()
    names = [p.name for p in writer.files]
    assert names == ["000000030.png", "000000100.png", "000000200.png", "000000400.png"]
    heights = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[0] for p in writer.files]
    assert heights == [70, 100, 10, 10]
    first = cv2.imread(str(writer.files[0]), cv2.IMREAD_UNCHANGED)
    assert first.dtype == np.uint8 and first[5, 2] == 255 and first.sum() == 255 * 2  # lines 35 and 95


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (a device that is always full)")


@needs_dev_full
def test_a_full_disk_is_one_error_naming_the_file_and_what_is_on_disk(tmp_path):
    from edgeinspect.errors import EdgeInspectError

    (tmp_path / "defects.csv").symlink_to("/dev/full")  # every write to it: ENOSPC, as on a full disk
    with pytest.raises(EdgeInspectError) as info:
        with DefectSinks(tmp_path, overlays=False) as sinks:
            pass
    assert str(info.value) == (f"{tmp_path / 'defects.csv'}: cannot write (No space left on device); "
                               f"the 0 record(s) before it are on disk")  # its header
    (tmp_path / "defects.csv").unlink()
    (tmp_path / "defects.jsonl").unlink()
    (tmp_path / "defects.jsonl").symlink_to("/dev/full")
    sinks = DefectSinks(tmp_path, overlays=False)  # the header goes to the csv; the jsonl fails at the first record
    with pytest.raises(EdgeInspectError, match=r"defects.jsonl: cannot write \(No space left on device\); the 0 record"):
        sinks.write(make_defect(1), flush=True)
    with pytest.raises(EdgeInspectError, match="defects.jsonl: not written after an earlier write error"):
        sinks.write(make_defect(2))
    sinks.close()  # closes both files without raising the same error again
    assert sinks._jsonl.closed and sinks._csv_file.closed
    assert (tmp_path / "defects.csv").read_text().splitlines() == [",".join(DEFECT_CSV_COLUMNS)]  # cut back to its header
    assert (sinks.count, sinks.on_disk, sinks.rejects) == (1, 0, 0)


@needs_dev_full
def test_json_and_truth_files_that_cannot_be_written_name_the_file(tmp_path):
    from edgeinspect.errors import EdgeInspectError
    from edgeinspect.stream.sinks import write_json, write_truth

    (tmp_path / "summary.json.tmp").symlink_to("/dev/full")
    with pytest.raises(EdgeInspectError, match=r"summary.json: cannot write \(No space left on device\)$"):
        write_json(tmp_path / "summary.json", {"a": 1})
    (tmp_path / "truth.jsonl.tmp").symlink_to("/dev/full")  # written whole beside it, then renamed
    with pytest.raises(EdgeInspectError, match=r"truth.jsonl: cannot write \(No space left on device\)$"):
        write_truth(tmp_path / "truth.jsonl", [TruthDefect(id=1, kind="hole", bbox_px=(0, 0, 2, 2), area_px=4, area_mm2=0.04)])
    assert not (tmp_path / "truth.jsonl").exists() and not (tmp_path / "truth.jsonl.tmp").exists()  # no half file


class _RefusingFileDouble:
    """Stands in for a record file's OS file on purpose: every write is refused as a full disk would."""

    def __init__(self, real) -> None:
        self._real = real

    def write(self, data) -> int:
        raise OSError(28, "No space left on device")

    def fileno(self) -> int:
        return self._real.fileno()

    def close(self) -> None:
        self._real.close()

    @property
    def closed(self) -> bool:
        return self._real.closed


def test_a_refused_csv_write_cuts_the_jsonl_back_too_so_both_hold_the_same_records(tmp_path):
    from edgeinspect.errors import EdgeInspectError

    sinks = DefectSinks(tmp_path, overlays=False)
    sinks.write(make_defect(1))  # on disk in both files
    sinks._csv_file._file = _RefusingFileDouble(sinks._csv_file._file)  # the jsonl write succeeds, the csv one not
    with pytest.raises(EdgeInspectError) as info:
        sinks.write(make_defect(2))
    assert str(info.value) == (f"{tmp_path / 'defects.csv'}: cannot write (No space left on device); "
                               f"the 1 record(s) before it are on disk")
    sinks.close()
    assert [json.loads(line)["id"] for line in (tmp_path / "defects.jsonl").read_text().splitlines()] == [1]
    assert [row[0] for row in csv.reader((tmp_path / "defects.csv").open())] == ["id", "1"]
    assert (sinks.count, sinks.on_disk) == (2, 1)


class _InterruptedFileDouble(_RefusingFileDouble):
    """On purpose: writes 10 bytes of the next flush, then an operator's second Ctrl-C arrives."""

    def write(self, data) -> int:
        self._real.write(bytes(data[:10]))
        raise KeyboardInterrupt


def test_an_interrupt_in_the_middle_of_a_flush_leaves_both_files_at_their_last_common_records(tmp_path):
    sinks = DefectSinks(tmp_path, overlays=False)
    sinks.write(make_defect(1))
    sinks._jsonl._file = _InterruptedFileDouble(sinks._jsonl._file)
    with pytest.raises(KeyboardInterrupt):
        sinks.write(make_defect(2))
    sinks.close()
    assert [json.loads(line)["id"] for line in (tmp_path / "defects.jsonl").read_text().splitlines()] == [1]
    assert [row[0] for row in csv.reader((tmp_path / "defects.csv").open())] == ["id", "1"]
    assert sinks.on_disk == 1


def test_writing_to_closed_sinks_is_an_error_not_a_lost_record(tmp_path):
    from edgeinspect.errors import EdgeInspectError

    sinks = DefectSinks(tmp_path, overlays=False)
    sinks.close()
    for flush in (True, False):
        with pytest.raises(EdgeInspectError, match="defects.jsonl: already closed"):
            sinks.write(make_defect(1), flush=flush)
    assert sinks.count == 0
