import json

import pytest

from edge_rep.cli import _command_modules, main

from fixtures_data import write_mod_csv_node, write_wav


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("synth", "convert"):
        assert name in out


@pytest.mark.parametrize("mod", _command_modules(), ids=lambda m: m.NAME)
def test_each_subcommand_help_shows_an_example(capsys, mod):
    with pytest.raises(SystemExit):
        main([mod.NAME, "--help"])
    out = capsys.readouterr().out
    assert "example:" in out and mod.EXAMPLE in out


def _one_line_error(capsys, argv, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("edge-rep: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert match in err
    return err


def test_synth_builds_dataset(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "d"), "--recordings", "6", "--duration", "4", "--quiet",
                 "--seed", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    man = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert len(man["recordings"]) == 6 and man["profile"]["name"] == "mod"


def test_synth_bad_arguments(tmp_path, capsys):
    _one_line_error(capsys, ["synth", "--out", str(tmp_path / "d"), "--profile", "nope"], "unknown profile 'nope'")
    _one_line_error(capsys, ["synth", "--out", str(tmp_path / "d"), "--recordings", "2"], "--recordings 2")
    _one_line_error(capsys, ["synth", "--out", str(tmp_path / "d"), "--seed", "-1"], "--seed: -1 is out of range")
    assert not (tmp_path / "d").exists()


def test_convert_wav_and_csv(tmp_path, capsys):
    write_wav(tmp_path / "wav" / "truck" / "a.wav")
    assert main(["convert", "wav", str(tmp_path / "wav"), "--out", str(tmp_path / "d1"), "--full-scale", "20"]) == 0
    man = json.loads((tmp_path / "d1" / "manifest.json").read_text())
    assert man["recordings"][0]["labels"] == ["truck"] and man["profile"]["modalities"][0]["units"] == "Pa"
    write_mod_csv_node(tmp_path / "csv" / "n1", seconds=2.0)
    assert main(["convert", "mod-csv", str(tmp_path / "csv"), "--out", str(tmp_path / "d2"), "--label", "car",
                 "--units", "counts"]) == 0
    man = json.loads((tmp_path / "d2" / "manifest.json").read_text())
    assert [m["units"] for m in man["profile"]["modalities"]] == ["counts", "counts"]


def test_convert_bad_input_is_one_line_exit_2(tmp_path, capsys):
    _one_line_error(capsys, ["convert", "wav", str(tmp_path / "missing"), "--out", str(tmp_path / "o")], "not found")
    write_mod_csv_node(tmp_path / "csv" / "n1", seconds=2.0)
    _one_line_error(capsys, ["convert", "mod-csv", str(tmp_path / "csv"), "--out", str(tmp_path / "o"),
                             "--label", "spaceship", "--units", "counts"], "spaceship")
    p = tmp_path / "csv" / "n1" / "ehz.csv"
    p.write_text(p.read_text() + "123.0\n")
    _one_line_error(capsys, ["convert", "mod-csv", str(tmp_path / "csv"), "--out", str(tmp_path / "o"),
                             "--label", "car", "--units", "counts"], "ehz.csv: truncated or corrupt")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x.wav").write_bytes(b"RIFFjunk")
    _one_line_error(capsys, ["convert", "wav", str(tmp_path / "w"), "--out", str(tmp_path / "o")], "x.wav")
    assert not (tmp_path / "o").exists()
