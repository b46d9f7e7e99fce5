"""Any Piper .onnx voice as a profile: a tiny model the test builds with the onnx package (a tone
whose pitch follows the phoneme ids, held ``hop * length_scale`` samples each) goes through
the real PiperEngine and the whole pipeline. Skipped without the [neural] extra or onnx."""
from __future__ import annotations

import json
import wave

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("piper")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper  # noqa: E402

from generator.cli import cli  # noqa: E402
from generator.engines.piper import PiperEngine  # noqa: E402
from generator.script.profiles import VoiceProfile  # noqa: E402

RATE, HOP = 16000, 64


def build_voice(path, rate: int = RATE, hop: int = HOP) -> None:
    """Write ``path`` (.onnx) and ``path.json``: Piper's inputs (input, input_lengths, scales)
    and output ([1, 1, T] float)."""
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    n = helper.make_node
    nodes = [
        n("Cast", ["input"], ["ids"], to=TensorProto.FLOAT),
        n("Gather", ["scales", "one"], ["length_scale"], axis=0),
        n("Mul", ["length_scale", "hop"], ["reps_f"]),
        n("Ceil", ["reps_f"], ["reps_c"]),
        n("Cast", ["reps_c"], ["reps"], to=TensorProto.INT64),
        n("Concat", ["one", "reps"], ["repeats"], axis=0),
        n("Tile", ["ids", "repeats"], ["held"]),            # [1, N * reps]
        n("Mul", ["held", "step"], ["increment"]),
        n("CumSum", ["increment", "axis1"], ["phase"]),
        n("Sin", ["phase"], ["tone"]),
        n("Mul", ["tone", "amp"], ["quiet"]),
        n("Unsqueeze", ["quiet", "axis0"], ["output"]),      # [1, 1, T]
    ]
    t = helper.make_tensor
    inits = [t("one", TensorProto.INT64, [1], [1]), t("hop", TensorProto.FLOAT, [], [float(hop)]),
             t("step", TensorProto.FLOAT, [], [2 * np.pi * 8.0 / rate]), t("amp", TensorProto.FLOAT, [], [0.3]),
             t("axis1", TensorProto.INT64, [], [1]), t("axis0", TensorProto.INT64, [1], [0])]
    v = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, "tiny-voice",
        [v("input", TensorProto.INT64, [1, None]), v("input_lengths", TensorProto.INT64, [1]),
         v("scales", TensorProto.FLOAT, [3])],
        [v("output", TensorProto.FLOAT, [1, 1, None])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    config = {"audio": {"sample_rate": rate, "quality": "x_low"}, "espeak": {"voice": "en-us"},
              "phoneme_type": "espeak", "phoneme_id_map": DEFAULT_PHONEME_ID_MAP, "num_symbols": 256,
              "num_speakers": 1, "language": {"code": "en_US", "name_english": "English"}}
    with open(str(path) + ".json", "w", encoding="utf-8") as f:
        json.dump(config, f)


@pytest.fixture
def tiny(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "en_US-tiny-x_low.onnx"
    build_voice(path)
    return path


def test_a_model_file_is_a_voice(tiny):
    with PiperEngine() as eng:
        fast = eng.synthesize("Hello there. Rest now.", VoiceProfile(engine="piper", voice=str(tiny), rate=200))
        slow = eng.synthesize("Hello there. Rest now.", VoiceProfile(engine="piper", voice=str(tiny), rate=100))
    assert fast.sample_rate == slow.sample_rate == RATE            # the model's config decides
    assert np.max(np.abs(fast.samples)) == pytest.approx(0.5)       # peak-normalised as for any voice
    # length_scale 1 vs 2 reached the model: each phoneme id held HOP vs 2 * HOP samples
    ids = (fast.frames - int(round(0.3 * RATE))) / HOP              # one 0.3 s gap between the sentences
    assert ids == int(ids) and 20 < ids < 60
    assert slow.frames == int(ids) * 2 * HOP + int(round(0.6 * RATE))


def test_a_profile_naming_the_model_renders(tiny, tmp_path, monkeypatch, write_script):
    monkeypatch.delenv("MEDITATE_ENGINE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "voices").mkdir()
    (tmp_path / "voices" / "mine.yaml").write_text(f"engine: piper\nvoice: {tiny}\nrate: 140\nfallback: gentle\n")
    script = write_script("Hello there. [pause 2s] Rest now.", voice="mine", bell="none")
    out = tmp_path / "out.wav"
    r = CliRunner().invoke(cli, ["render", str(script), "-o", str(out), "-q", "--strict-voice"])
    assert r.exit_code == 0, r.output
    with wave.open(str(out)) as w:
        assert w.getframerate() == 44100 and w.getnframes() > 2 * 44100
    assert "Hello there." in out.with_suffix(".vtt").read_text(encoding="utf-8")


def test_a_folder_of_models_is_searched_by_name(tiny, monkeypatch):
    monkeypatch.setenv("MEDITATE_PIPER_VOICES", str(tiny.parent))
    with PiperEngine() as eng:
        assert eng.resolve("tiny") == eng.resolve("en_US-tiny-x_low") == tiny.resolve()
        assert any(v == "en_US-tiny-x_low" for v, _ in eng.voices())
    r = CliRunner().invoke(cli, ["voices"])
    assert "en_US-tiny-x_low (English, x_low, 16000 Hz, folder" in r.output
