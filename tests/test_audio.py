"""Audio decoding, mono 16 kHz normalisation, limits, the content-addressed WAV cache and data URIs."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
from fixtures import encode, tone

from anyaudio_eval import audio as audio_mod
from anyaudio_eval.audio import (
    TARGET_SR,
    AudioError,
    audio_from_reference,
    cache_audio,
    cache_dir,
    decode_audio,
    file_data_uri,
    load_audio,
    wav_data_uri,
)


def _mp3_writable() -> bool:
    try:
        encode(tone(seconds=0.2), 16_000, fmt="MP3")
        return True
    except Exception:
        return False


FORMATS = [
    pytest.param("WAV", None, "wav", id="wav"),
    pytest.param("FLAC", None, "flac", id="flac"),
    pytest.param("OGG", "VORBIS", "ogg", id="ogg-vorbis"),
    pytest.param(
        "MP3",
        None,
        "mp3",
        id="mp3",
        marks=pytest.mark.skipif(
            not _mp3_writable(),
            reason="this libsndfile cannot write MP3 (needs libsndfile >= 1.1 with LAME/mpg123)",
        ),
    ),
]


def _peak_hz(wav: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.fft.rfftfreq(len(wav), 1 / sr)[int(np.argmax(spectrum))])


@pytest.mark.parametrize(("fmt", "subtype", "ext"), FORMATS)
def test_decodes_bytes_and_files_of_each_format(tmp_path, fmt, subtype, ext):
    data = encode(tone(440.0, seconds=1.0, sr=44_100, channels=2), 44_100, fmt=fmt, subtype=subtype)
    file = tmp_path / f"clip.{ext}"
    file.write_bytes(data)
    for source in (data, file, str(file)):
        wav = load_audio(source)
        assert wav.ndim == 1 and wav.dtype == np.float32
        # Lossy codecs pad a little (encoder delay), never by more than a frame or two.
        assert abs(len(wav) - TARGET_SR) < 0.1 * TARGET_SR, (fmt, len(wav))
        assert abs(_peak_hz(wav, TARGET_SR) - 440.0) < 3.0
        rms = float(np.sqrt(np.mean(wav**2)))
        assert 0.15 < rms < 0.27  # a 0.3-amplitude sine has rms 0.212


@pytest.mark.parametrize(("sr", "channels"), [(44_100, 2), (8_000, 1), (8_000, 2), (16_000, 2)])
def test_inputs_come_out_mono_16k(sr, channels):
    data = encode(tone(300.0, seconds=2.0, sr=sr, channels=channels), sr)
    assert decode_audio(data)[0].shape == (2 * sr, channels)
    wav = load_audio(data)
    assert wav.ndim == 1
    assert abs(len(wav) - 2 * TARGET_SR) <= 2
    path = cache_audio(data)
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (TARGET_SR, 1, "PCM_16")
    assert abs(info.frames - 2 * TARGET_SR) <= 2


def test_stereo_is_downmixed_by_averaging_channels():
    left = tone(500.0, seconds=1.0, sr=44_100, amp=0.4)
    stereo = np.stack([left, np.zeros_like(left)], axis=1)
    wav = load_audio(encode(stereo, 44_100))
    # Averaging keeps half the amplitude; taking one channel would keep all (or nothing) of it.
    peak = float(np.abs(wav[1000:-1000]).max())
    assert 0.18 < peak < 0.22


def test_resampling_preserves_a_tone_frequency():
    data = encode(tone(1000.0, seconds=2.0, sr=44_100, channels=2), 44_100)
    wav = load_audio(data)
    assert abs(_peak_hz(wav, TARGET_SR) - 1000.0) <= 2.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: encode(np.zeros((0, 1), dtype=np.float32)), "empty"),
        (lambda: encode(np.full(1600, np.nan, dtype=np.float32), subtype="FLOAT"), "NaN"),
        (lambda: b"this is not audio at all" * 10, "undecodable"),
        (lambda: encode(tone(seconds=1.0))[:30], "undecodable"),  # truncated header
    ],
    ids=["empty", "all-nan", "corrupt", "truncated"],
)
def test_unusable_clips_raise_audio_error(make, message):
    data = make()
    with pytest.raises(AudioError, match=message):
        load_audio(data)
    with pytest.raises(AudioError, match=message):
        cache_audio(data)


def test_clip_over_max_seconds_is_refused_with_its_length():
    data = encode(tone(seconds=3.0))
    with pytest.raises(AudioError, match=r"3\.0 s long, over the limit of 2 s"):
        cache_audio(data, max_seconds=2.0)
    assert len(load_audio(data, max_seconds=3.5)) == 3 * TARGET_SR


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_partly_non_finite_clip_is_refused_with_the_count(bad):
    wav = tone(seconds=1.0)
    wav[:100] = bad
    data = encode(wav, subtype="FLOAT")
    with pytest.raises(AudioError, match="non-finite .*: 100 of 16000"):
        load_audio(data)
    with pytest.raises(AudioError, match="non-finite"):
        cache_audio(data)


def test_duration_is_checked_from_the_header_before_decoding(tmp_path, monkeypatch):
    """A clip over the limit is refused without decoding a sample (bytes and files, as files/ reads)."""
    data = encode(tone(seconds=3.0))
    path = tmp_path / "long.wav"
    path.write_bytes(data)

    def no_decoding(*args, **kwargs):
        raise AssertionError("samples were decoded")

    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    monkeypatch.setattr(sf, "read", no_decoding)
    for source in (data, path):
        with pytest.raises(AudioError, match=r"3\.0 s long, over the limit of 2 s"):
            cache_audio(source, max_seconds=2.0, directory=tmp_path / "cache")


def test_missing_file_raises_audio_error(tmp_path):
    with pytest.raises(AudioError, match="cannot read audio file"):
        cache_audio(tmp_path / "nope.wav")


def test_limit_is_enforced_on_a_cache_hit(tmp_path):
    data = encode(tone(seconds=3.0))
    cache_audio(data, directory=tmp_path)
    with pytest.raises(AudioError, match="over the limit"):
        cache_audio(data, max_seconds=2.0, directory=tmp_path)


def test_cache_is_content_addressed_and_reused(tmp_path):
    a = encode(tone(440.0))
    b = encode(tone(660.0))
    first = cache_audio(a, directory=tmp_path)
    assert first.is_file() and first.is_relative_to(tmp_path)
    mtime = first.stat().st_mtime_ns
    time.sleep(0.02)
    # Same bytes, whether given as bytes or as a file under another name: same entry, not rewritten.
    other_name = tmp_path / "elsewhere" / "renamed.wav"
    other_name.parent.mkdir()
    other_name.write_bytes(a)
    assert cache_audio(a, directory=tmp_path) == first
    assert cache_audio(other_name, directory=tmp_path) == first
    assert first.stat().st_mtime_ns == mtime
    # Different bytes: another entry.
    second = cache_audio(b, directory=tmp_path)
    assert second != first and second.is_file()
    assert abs(_peak_hz(sf.read(str(second))[0], TARGET_SR) - 660.0) < 3.0
    assert len(list((tmp_path / "audio").rglob("*.wav"))) == 2


def test_cache_hit_does_not_decode_again(tmp_path, monkeypatch):
    data = encode(tone(330.0))
    path = cache_audio(data, directory=tmp_path)

    def boom(*args, **kwargs):
        raise AssertionError("decoded a clip that was already cached")

    monkeypatch.setattr(audio_mod, "load_audio", boom)
    assert cache_audio(data, directory=tmp_path) == path


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["oserror", "interrupt"])
def test_killed_writer_never_leaves_a_trusted_file(tmp_path, monkeypatch, error):
    data = encode(tone(880.0))
    real_write = sf.write

    def dying_write(file, wav, sr, *args, **kwargs):
        file.write(b"RIFF\x00\x00\x00\x00WAVEfmt ")  # a partial header, then the writer dies
        raise error

    monkeypatch.setattr(audio_mod.sf, "write", dying_write)
    with pytest.raises(type(error)):
        cache_audio(data, directory=tmp_path)
    monkeypatch.setattr(audio_mod.sf, "write", real_write)

    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == [], f"files left behind by a failed write: {leftovers}"

    path = cache_audio(data, directory=tmp_path)
    wav, sr = sf.read(str(path))
    assert sr == TARGET_SR and len(wav) == TARGET_SR
    assert abs(_peak_hz(wav, TARGET_SR) - 880.0) < 3.0
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_final_name_only_appears_complete(tmp_path, monkeypatch):
    """While the WAV is being written the final path must not exist yet (readers would trust it)."""
    data = encode(tone(550.0))
    real_write = sf.write
    seen: list[bool] = []

    def watching_write(file, wav, sr, *args, **kwargs):
        final = [p for p in tmp_path.rglob("*.wav") if not p.name.startswith(".tmp-")]
        seen.append(bool(final))
        return real_write(file, wav, sr, *args, **kwargs)

    monkeypatch.setattr(audio_mod.sf, "write", watching_write)
    cache_audio(data, directory=tmp_path)
    assert seen == [False]


def test_anyaudio_cache_env_is_honoured(tmp_path, monkeypatch):
    target = tmp_path / "my-cache"
    monkeypatch.setenv("ANYAUDIO_CACHE", str(target))
    assert cache_dir() == target
    path = cache_audio(encode(tone(770.0)))
    assert path.is_relative_to(target / "audio")
    other = tmp_path / "other-cache"
    monkeypatch.setenv("ANYAUDIO_CACHE", str(other))
    assert cache_audio(encode(tone(770.0))).is_relative_to(other)


def test_anyaudio_cache_expands_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ANYAUDIO_CACHE", "~/cache-here")
    assert cache_dir() == tmp_path / "cache-here"


def test_data_uri_round_trip(tmp_path):
    wav = tone(620.0, seconds=0.5)
    uri = wav_data_uri(wav)
    assert uri.startswith("data:audio/wav;base64,")
    back = audio_from_reference(uri)
    assert back.shape == wav.shape
    np.testing.assert_allclose(back, wav, atol=2 / 32768)  # PCM16 quantisation
    # A cached file and its data URI decode to the same samples.
    path = cache_audio(encode(wav), directory=tmp_path)
    np.testing.assert_array_equal(audio_from_reference(str(path)), audio_from_reference(file_data_uri(path)))


def test_non_16k_data_uri_is_normalised():
    uri = wav_data_uri(tone(1000.0, seconds=1.0, sr=44_100, channels=2), sr=44_100)
    back = audio_from_reference(uri)
    assert back.ndim == 1 and abs(len(back) - TARGET_SR) <= 2
    assert abs(_peak_hz(back, TARGET_SR) - 1000.0) <= 2.0


def test_bad_data_uri_raises_audio_error():
    with pytest.raises(AudioError):
        audio_from_reference("data:audio/wav;base64," + "QUJD" * 10)


def test_cache_dir_default_is_a_user_cache(monkeypatch):
    monkeypatch.delenv("ANYAUDIO_CACHE")
    default = cache_dir()
    assert "anyaudio_eval" in default.parts and default.is_absolute()


def test_relative_anyaudio_cache_gives_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANYAUDIO_CACHE", "rel-cache")
    path = cache_audio(encode(tone(250.0)))
    assert path.is_absolute()
    assert path.is_relative_to(tmp_path / "rel-cache")
