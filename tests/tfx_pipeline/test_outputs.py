"""The output directory check: writable or refused, and nothing created either way."""

import pytest

from tfx_pipeline import outputs


def test_a_folder_that_can_be_created_is_accepted_and_not_created(tmp_path):
  outputs.check_writable(str(tmp_path / "a" / "b"))
  outputs.check_writable(str(tmp_path))
  assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_refused(tmp_path):
  (tmp_path / "file").write_text("")
  with pytest.raises(outputs.OutputDirError,
                     match=f"{tmp_path / 'file' / 'out'}: Not a directory"):
    outputs.check_writable(str(tmp_path / "file" / "out"))


def test_a_uri_is_left_to_the_writers():
  outputs.check_writable("gs://bucket/out")
