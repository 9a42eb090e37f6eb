"""A loopback OpenAI-compatible chat server for wire tests: records requests, answers like a judge."""

from __future__ import annotations

import base64
import io
import json
import math
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import soundfile as sf

Reply = Callable[[dict[str, Any], np.ndarray | None], dict[str, Any]]


def audio_of(body: dict[str, Any]) -> np.ndarray | None:
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "input_audio":
                    data = base64.b64decode(part["input_audio"]["data"])
                    wav, _ = sf.read(io.BytesIO(data), dtype="float32")
                    return wav
    return None


def text_of(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")


def completion(content: str, logprobs: dict[str, float] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": "stop",
    }
    if logprobs is not None:
        top = [{"token": t, "logprob": lp, "bytes": None} for t, lp in logprobs.items()]
        choice["logprobs"] = {
            "content": [{"token": content, "logprob": logprobs.get(content, -1.0), "bytes": None, "top_logprobs": top}]
        }
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "judge",
        "choices": [choice],
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
    }


def listening_reply(body: dict[str, Any], wav: np.ndarray | None) -> dict[str, Any]:
    """p_yes 0.9 for audible clips, 0.2 for silence; split over token variants like a real tokenizer."""
    loud = wav is not None and float(np.sqrt(np.mean(wav**2))) > 0.05
    p = 0.9 if loud else 0.2
    logprobs = {
        "yes": math.log(p * 0.75),
        " Yes": math.log(p * 0.25),
        "no": math.log((1 - p) * 0.75),
        " No": math.log((1 - p) * 0.25),
    }
    if not body.get("logprobs"):
        return completion("yes" if loud else "no")
    return completion("yes" if loud else "no", logprobs)


class FakeOpenAI:
    """`record` and `decode_audio` off and `keep_alive` on make it an instant server for throughput benchmarks
    (no request kept, no clip decoded, one connection per client slot)."""

    def __init__(
        self, reply: Reply = listening_reply, record: bool = True, decode_audio: bool = True, keep_alive: bool = False
    ) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if record:
                    outer.requests.append(body)
                reply = outer.reply(body, audio_of(body) if decode_audio else None)
                # A reply may set "_status" (an HTTP error) and "_raw" (a body that is not JSON).
                status = int(reply.pop("_status", 200))
                payload = reply.pop("_raw", None) or json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024  # the listen backlog: a client opens its connections at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
