"""The demo (``python -m jopt.demo``) runs, learns, and writes its plot."""

from jopt import demo


def test_demo_trains_every_optimizer(tmp_path, capsys):
    out = tmp_path / "losses.png"
    results = demo.main(["--epochs", "4", "--step-size", "3", "--out", str(out), "--seed", "1"])

    assert [r["name"] for r in results] == ["sgd", "momentum", "rmsprop", "adam"]
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for r in results:
        losses = r["losses"]
        assert len(losses) == 4
        assert losses[-1] < 0.5 * losses[0], (r["optimizer"], losses)  # starts near ln(10) = 2.3
        assert r["train_loss"] == losses[-1]
        assert r["test_accuracy"] > 0.8, r  # chance is 0.1
    printed = capsys.readouterr().out
    assert "test acc" in printed and "Adam" in printed


def test_demo_flags(tmp_path):
    results = demo.main(["--optimizers", "adam", "--epochs", "1", "--batch-size", "64", "--quiet",
                         "--out", str(tmp_path / "a.png")])
    assert len(results) == 1 and results[0]["optimizer"] == "Adam"
    assert (tmp_path / "a.png").exists()


def test_demo_rejects_unknown_optimizer(tmp_path):
    import pytest

    with pytest.raises(SystemExit):
        demo.main(["--optimizers", "lbfgs", "--out", str(tmp_path / "x.png")])
