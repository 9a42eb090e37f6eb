"""Generator providers that talk to the outside: an OpenAI-compatible speech endpoint and espeak-ng."""

from __future__ import annotations

import io
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import soundfile as sf
from fixtures import tone
from inspect_ai.model import ChatMessageUser, ContentAudio, get_model

from anyaudio_eval.audio import audio_from_reference


def speech_server(requests):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append((self.path, body, self.headers.get("Authorization")))
            buf = io.BytesIO()
            sf.write(buf, tone(330, 0.5, 24000), 24000, format="WAV")
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(buf.getvalue())))
            self.end_headers()
            self.wfile.write(buf.getvalue())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def request(instruction, text=None, id_="s1"):
    meta = {"id": id_, "instruction": instruction, "text": text, "domain": "speech"}
    return [ChatMessageUser(content=instruction, metadata=meta)]


async def generate_audio(model, messages):
    output = await model.generate(messages)
    audio = [c for c in output.message.content if isinstance(c, ContentAudio)] if not output.error else []
    return output, (audio_from_reference(audio[0].audio) if audio else None)


@pytest.mark.anyio
async def test_openai_speech_sends_text_and_style(monkeypatch):
    requests = []
    server = speech_server(requests)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        model = get_model("openai-speech/tts-test", base_url=url, api_key="k", voice="nova", cache=False, memoize=False)
        output, wav = await generate_audio(model, request("speak slowly and sadly", text="good night"))
    finally:
        server.shutdown()
    assert output.error is None and wav is not None
    assert abs(len(wav) / 16000 - 0.5) < 0.01  # resampled to 16 kHz
    path, body, auth = requests[0]
    assert path == "/v1/audio/speech" and auth == "Bearer k"
    assert body == {
        "model": "tts-test",
        "voice": "nova",
        "input": "good night",
        "response_format": "wav",
        "instructions": "speak slowly and sadly",
    }


@pytest.mark.anyio
async def test_unreachable_speech_endpoint_is_an_error_not_a_crash():
    model = get_model("openai-speech/tts", base_url="http://127.0.0.1:9/v1", api_key="k", cache=False, memoize=False)
    output, wav = await generate_audio(model, request("x", text="y"))
    assert wav is None and "unreachable" in output.error


@pytest.mark.anyio
async def test_espeak_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    model = get_model("espeak/en-us", cache=False, memoize=False)
    output, wav = await generate_audio(model, request("hello"))
    assert wav is None and "apt-get install espeak-ng" in output.error


@pytest.mark.anyio
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
async def test_espeak_speaks():
    model = get_model("espeak/en-us", rate=200, cache=False, memoize=False)
    output, wav = await generate_audio(model, request("a calm voice", text="hello world"))
    assert output.error is None and wav is not None and len(wav) > 8000


def test_unknown_model_args_are_refused():
    with pytest.raises(ValueError, match="unknown model args"):
        get_model("files/somewhere", voice="x", memoize=False)
    with pytest.raises(ValueError, match=r"\{out\}"):
        get_model("command/x", cmd="tts --text {text}", memoize=False)
