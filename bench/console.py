#!/usr/bin/env python3
"""The serial console, measured beside ipmitool at the same ipmi_sim (run by bench/console.sh).

The "machine" is a TCP server this script runs as the serial port ipmi_sim's SOL connects to
(as QEMU's would be): it echoes what is typed, and on STX (0x02) prints a 1 MiB burst ending in
"\\x03END\\x03". One run measures, for baas (a WebSocket client as the browser is) and for
`ipmitool -I lanplus sol activate` (on a pseudo-terminal):
  - keystroke-to-echo latency over 1,000 keystrokes (p50, p99);
  - a 1 MiB burst: every byte in order (SHA-256) and the rate.
Then 20 machines with consoles recording at once, one of them watched by 50 viewers: baas' peak
RSS and CPU per console.
"""

import asyncio
import hashlib
import http.cookiejar
import json
import os
import pty
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from websockets.asyncio.client import connect

ROOT = os.environ["ROOT"]
BAAS = os.environ["BAAS"]
KEYSTROKES = int(os.environ.get("KEYSTROKES", "1000"))
BURST = 1 << 20
ADMIN_PASSWORD = "bench-admin-password"
FILES = os.path.join(ROOT, "bmc", "testdata", "ipmi_sim")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def burst_bytes():
    pattern = bytes(33 + (i * 7 + i // 251) % 90 for i in range(BURST))
    return pattern + b"\x03END\x03"


BURST_BYTES = burst_bytes()
BURST_SHA = hashlib.sha256(BURST_BYTES).hexdigest()


class SerialPort:
    """The machine's serial line: echoes, bursts on STX, or chatters like a booting kernel."""

    def __init__(self, chatter=False):
        self.chatter = chatter
        self.port = free_port()
        self.writer = None

    async def start(self):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", self.port)

    async def serve(self, reader, writer):
        self.writer = writer
        if self.chatter:
            asyncio.create_task(self.chat(writer))
        try:
            while data := await reader.read(4096):
                writer.write(BURST_BYTES if b"\x02" in data else data)
                await writer.drain()
        except (asyncio.CancelledError, ConnectionError):
            pass  # The run is over: ipmi_sim went away or the loop closed.

    async def chat(self, writer):
        n = 0
        try:
            while not writer.is_closing():
                n += 1
                writer.write(f"[{n * 0.1:12.6f}] bench: a line as a booting kernel prints it, number {n}\r\n".encode())
                await writer.drain()
                await asyncio.sleep(0.1)
        except (asyncio.CancelledError, ConnectionError):
            pass


def start_ipmi_sim(work, serial_port):
    bmc_port = free_port(socket.SOCK_DGRAM)
    directory = tempfile.mkdtemp(dir=work)
    hook = os.path.join(directory, "chassis.sh")
    with open(os.path.join(FILES, "chassis.sh")) as f, open(hook, "w") as out:
        out.write(f.read())
    os.chmod(hook, 0o755)
    with open(os.path.join(FILES, "lan.conf.in")) as f:
        lan = f.read().replace("@PORT@", str(bmc_port)).replace("@HOOK@", hook)
    lan = lan.replace("@SOL@", f'  sol "tcp:127.0.0.1:{serial_port}" 115200')
    with open(os.path.join(directory, "lan.conf"), "w") as out:
        out.write(lan)
    with open(os.path.join(FILES, "bmc.emu")) as f, open(os.path.join(directory, "bmc.emu"), "w") as out:
        out.write(f.read())
    os.mkdir(os.path.join(directory, "simstate"))
    process = subprocess.Popen(
        ["ipmi_sim", "-c", "lan.conf", "-f", "bmc.emu", "-s", "simstate", "-n"],
        cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return process, bmc_port


class Baas:
    def __init__(self, work):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, BAAS_HTTP_ADDR=f"127.0.0.1:{self.port}", BAAS_DATA_DIR=os.path.join(work, "data"),
                   BAAS_ADMIN_PASSWORD=ADMIN_PASSWORD, BAAS_TFTP_ADDR="off", BAAS_DHCP_MODE="off", RUST_LOG="warn")
        self.process = subprocess.Popen([BAAS, "serve"], env=env, stdin=subprocess.DEVNULL)
        self.jar = http.cookiejar.CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.http.open(f"{self.base}/healthz")
                break
            except OSError:
                time.sleep(0.1)
        self.call("login", {"username": "admin", "password": ADMIN_PASSWORD})
        self.cookie = "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def call(self, function, form):
        request = urllib.request.Request(f"{self.base}/api/{function}", data=urllib.parse.urlencode(form).encode(),
                                         headers={"Origin": self.base})
        with self.http.open(request) as response:
            body = response.read()
            return json.loads(body) if body else None

    def add_machine(self, name, mac, bmc_port):
        machine = self.call("admin/create_machine", {
            "input[name]": name, "input[macs]": mac, "input[platform]": "x86_64-uefi", "input[bmc_kind]": "ipmi",
            "input[bmc_address]": f"127.0.0.1:{bmc_port}", "input[bmc_username]": "admin",
            "input[bmc_password]": "password", "input[location]": "", "input[tags]": "", "input[description]": "",
            "input[state]": "available",
        })
        return machine["id"]

    def reserve(self, machine_id):
        now = time.time()
        fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M", time.gmtime(t))
        self.call("reserve", {"machine_id": str(machine_id), "start": fmt(now - 60), "end": fmt(now + 3600), "note": "bench"})

    def rss_peak_kib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))

    def cpu_seconds(self):
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


async def baas_console(baas, machine_id):
    socket_ = await connect(f"ws://127.0.0.1:{baas.port}/api/v1/machines/{machine_id}/console",
                            additional_headers={"Cookie": baas.cookie, "Origin": baas.base}, max_size=None)
    await socket_.send(json.dumps({"type": "take_keyboard"}))
    deadline = time.time() + 20
    live = keyboard = False
    while not (live and keyboard):
        message = await asyncio.wait_for(socket_.recv(), max(0.1, deadline - time.time()))
        if isinstance(message, str):
            state = json.loads(message)
            live = live or state.get("console") == "live"
            keyboard = state.get("keyboard") == "yours"
    await asyncio.sleep(0.5)
    return socket_


async def drain(socket_, seconds=0.3):
    try:
        while True:
            await asyncio.wait_for(socket_.recv(), seconds)
    except asyncio.TimeoutError:
        pass


async def measure_baas(baas, machine_id):
    socket_ = await baas_console(baas, machine_id)
    await drain(socket_)
    latencies = []
    for i in range(KEYSTROKES):
        key = bytes([97 + i % 26])
        started = time.perf_counter()
        await socket_.send(key)
        while True:
            message = await socket_.recv()
            if isinstance(message, bytes) and key in message:
                break
        latencies.append((time.perf_counter() - started) * 1000)
    await drain(socket_)
    started = time.perf_counter()
    await socket_.send(b"\x02")
    received = bytearray()
    while not received.endswith(b"\x03END\x03"):
        message = await socket_.recv()
        if isinstance(message, bytes):
            received.extend(message)
    seconds = time.perf_counter() - started
    await socket_.close()
    start = received.find(BURST_BYTES[:64])
    whole = hashlib.sha256(received[start:]).hexdigest() == BURST_SHA if start >= 0 else False
    return latencies, len(BURST_BYTES) / seconds, whole


def measure_ipmitool(bmc_port):
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("ipmitool", ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(bmc_port), "-U", "admin",
                               "-P", "password", "-C", "3", "sol", "activate"])
    seen = b""
    deadline = time.time() + 20
    while b"SOL Session operational" not in seen and time.time() < deadline:
        seen += os.read(fd, 4096)
    time.sleep(0.5)
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass
    os.set_blocking(fd, True)
    latencies = []
    for i in range(KEYSTROKES):
        key = bytes([97 + i % 26])
        started = time.perf_counter()
        os.write(fd, key)
        while key not in os.read(fd, 4096):
            pass
        latencies.append((time.perf_counter() - started) * 1000)
    time.sleep(0.3)
    os.set_blocking(fd, False)
    try:
        while os.read(fd, 65536):
            pass
    except BlockingIOError:
        pass
    os.set_blocking(fd, True)
    started = time.perf_counter()
    os.write(fd, b"\x02")
    received = bytearray()
    while not received.endswith(b"\x03END\x03"):
        received.extend(os.read(fd, 65536))
    seconds = time.perf_counter() - started
    os.write(fd, b"\r~.")
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)
    start = received.find(BURST_BYTES[:64])
    whole = hashlib.sha256(bytes(received[start:])).hexdigest() == BURST_SHA if start >= 0 else False
    return latencies, len(BURST_BYTES) / seconds, whole


def p99(values):
    return statistics.quantiles(values, n=100)[98]


async def one_console(work, baas):
    serial = SerialPort()
    await serial.start()
    sim, bmc_port = start_ipmi_sim(work, serial.port)
    try:
        await asyncio.sleep(1.5)
        machine = baas.add_machine(f"bench-{serial.port}", f"52:54:00:be:{serial.port >> 8 & 255:02x}:{serial.port & 255:02x}", bmc_port)
        ours = await measure_baas(baas, machine)
        # The console closes once nobody watches an unreserved machine: SOL is free again.
        await asyncio.sleep(5)
        theirs = await asyncio.get_running_loop().run_in_executor(None, measure_ipmitool, bmc_port)
        return ours, theirs
    finally:
        sim.terminate()
        sim.wait()


async def many_consoles(work, baas, consoles=20, viewers=50, seconds=30):
    sims = []
    machines = []
    for i in range(consoles):
        serial = SerialPort(chatter=True)
        await serial.start()
        sim, bmc_port = start_ipmi_sim(work, serial.port)
        sims.append(sim)
        machines.append((baas.add_machine(f"many-{i:02d}", f"52:54:00:bf:00:{i:02x}", bmc_port), serial))
    try:
        await asyncio.sleep(1.5)
        for machine, _ in machines:
            baas.reserve(machine)
        # The console duty opens every reserved machine's console within a pass or two.
        await asyncio.sleep(8)
        sockets = [await connect(f"ws://127.0.0.1:{baas.port}/api/v1/machines/{machines[0][0]}/console",
                                 additional_headers={"Cookie": baas.cookie, "Origin": baas.base}, max_size=None)
                   for _ in range(viewers)]
        counts = [0] * viewers

        async def watch(index, socket_):
            async for message in socket_:
                if isinstance(message, bytes):
                    counts[index] += len(message)

        tasks = [asyncio.create_task(watch(i, s)) for i, s in enumerate(sockets)]
        cpu_before, started = baas.cpu_seconds(), time.time()
        await asyncio.sleep(seconds)
        cpu = baas.cpu_seconds() - cpu_before
        elapsed = time.time() - started
        for task in tasks:
            task.cancel()
        for socket_ in sockets:
            await socket_.close()
        recorded = [os.path.getsize(os.path.join(work, "data", "consoles", "machines", f"{m}.log"))
                    for m, _ in machines if os.path.exists(os.path.join(work, "data", "consoles", "machines", f"{m}.log"))]
        return {
            "rss_peak_mib": baas.rss_peak_kib() / 1024,
            "cpu_percent_per_console": 100 * cpu / elapsed / consoles,
            "consoles_recording": len(recorded),
            "smallest_recording_bytes": min(recorded) if recorded else 0,
            "viewers_fed": sum(1 for c in counts if c > 0),
            "least_bytes_per_viewer": min(counts),
        }
    finally:
        for sim in sims:
            sim.terminate()
            sim.wait()


async def main():
    mode = sys.argv[1]
    work = tempfile.mkdtemp(prefix="baas-bench-console-")
    baas = Baas(work)
    try:
        if mode == "one":
            (ours_lat, ours_rate, ours_whole), (theirs_lat, theirs_rate, theirs_whole) = await one_console(work, baas)
            print(json.dumps({
                "baas_p50_ms": statistics.median(ours_lat), "baas_p99_ms": p99(ours_lat),
                "ipmitool_p50_ms": statistics.median(theirs_lat), "ipmitool_p99_ms": p99(theirs_lat),
                "baas_burst_kib_s": ours_rate / 1024, "ipmitool_burst_kib_s": theirs_rate / 1024,
                "baas_burst_whole": ours_whole, "ipmitool_burst_whole": theirs_whole,
            }))
        else:
            print(json.dumps(await many_consoles(work, baas)))
    finally:
        baas.stop()
        subprocess.run(["rm", "-rf", work])


asyncio.run(main())
