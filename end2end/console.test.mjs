// The machine's serial console in real Chromium, on the release build: OpenIPMI's ipmi_sim
// serves Serial-over-LAN from a serial port this test plays (a TCP server, as QEMU's would be),
// so every byte each way is known. The holder watches the boot scroll and types; a manager sees
// the same bytes read-only, takes the keyboard and sends BREAK; a viewer gets no console; the
// downloaded log holds it all; the holder's socket closes when the reservation ends.
// Screenshots go to end2end/artifacts/console/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, launchChromium, root, session, siteRoot, utc } from './support.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password';

let server, browser, base, dataDir, ipmiSim, ipmiDir, serialServer;
let screenshot, open, logIn, assertNothingBlocked;
// The machine's side of the serial line: what it was sent, and the connection to print on.
let serial = null;
let typed = Buffer.alloc(0);

function freePort(udp = false) {
  return new Promise((resolve, reject) => {
    if (udp) {
      const probe = createSocket('udp4');
      probe.bind(0, '127.0.0.1', () => {
        const { port } = probe.address();
        probe.close(() => resolve(port));
      });
      return;
    }
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitFor(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} within ${ms} ms`);
}

/** Prints on the machine's serial line. */
function machinePrints(text) {
  assert.ok(serial, 'ipmi_sim is connected to the serial port');
  serial.write(text);
}

/** The visible text of a page's terminal. */
async function screenText(page) {
  return page.locator('[data-testid=console-screen] .xterm-rows').innerText().catch(() => '');
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'baas-e2e-console-'));
  // The serial port ipmi_sim connects to.
  const serialPort = await freePort();
  serialServer = createServer((socket) => {
    serial = socket;
    socket.on('data', (bytes) => { typed = Buffer.concat([typed, bytes]); });
    socket.on('close', () => { if (serial === socket) serial = null; });
  });
  await new Promise((resolve) => serialServer.listen(serialPort, '127.0.0.1', resolve));
  // ipmi_sim with the files the Rust BMC tests use, and SOL to that port.
  const files = join(root, 'bmc', 'testdata', 'ipmi_sim');
  ipmiDir = mkdtempSync(join(tmpdir(), 'baas-ipmi-sol-'));
  const bmcPort = await freePort(true);
  const hook = join(ipmiDir, 'chassis.sh');
  copyFileSync(join(files, 'chassis.sh'), hook);
  chmodSync(hook, 0o755);
  const lan = readFileSync(join(files, 'lan.conf.in'), 'utf8').replaceAll('@PORT@', String(bmcPort))
    .replaceAll('@HOOK@', hook).replaceAll('@SOL@', `  sol "tcp:127.0.0.1:${serialPort}" 115200`);
  writeFileSync(join(ipmiDir, 'lan.conf'), lan);
  copyFileSync(join(files, 'bmc.emu'), join(ipmiDir, 'bmc.emu'));
  mkdirSync(join(ipmiDir, 'simstate'));
  ipmiSim = spawn('ipmi_sim', ['-c', 'lan.conf', '-f', 'bmc.emu', '-s', 'simstate', '-n'], { cwd: ipmiDir, stdio: 'ignore' });
  await waitFor('ipmi_sim did not connect to the serial port', () => serial !== null);

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      BAAS_HTTP_ADDR: `127.0.0.1:${port}`,
      BAAS_DATA_DIR: dataDir,
      BAAS_SITE_ROOT: siteRoot,
      BAAS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      BAAS_TFTP_ADDR: 'off',
      BAAS_DHCP_MODE: 'off',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitFor('baas did not start', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 30_000);
  browser = await launchChromium();
  ({ screenshot, open, logIn, assertNothingBlocked } = session(browser, base, 'console'));
  globalThis.bmcPort = bmcPort;
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  ipmiSim?.kill('SIGTERM');
  serial?.destroy();
  serialServer?.close();
  if (ipmiDir) rmSync(ipmiDir, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('the holder watches the boot and types; a manager watches, takes the keyboard and sends BREAK; the log keeps it; the end of the reservation closes the console', async () => {
  const admin = await logIn('admin', ADMIN_PASSWORD);
  const api = async (page, path, form) => {
    const res = await page.request.post(`${base}/api/${path}`, { form });
    assert.equal(res.status(), 200, `${path}: ${await res.text()}`);
    return res.json();
  };
  const machine = await api(admin, 'admin/create_machine', {
    'input[name]': 'sol-01', 'input[macs]': '52:54:00:aa:cc:01', 'input[platform]': 'x86_64-uefi',
    'input[bmc_kind]': 'ipmi', 'input[bmc_address]': `127.0.0.1:${globalThis.bmcPort}`, 'input[bmc_username]': 'admin',
    'input[bmc_password]': 'password', 'input[location]': '', 'input[tags]': '', 'input[description]': '',
    'input[state]': 'available',
  });
  for (const [name, level] of [['erin', 'use'], ['mia', 'manage'], ['vic', 'view']]) {
    await api(admin, 'admin/create_user', { username: name, display_name: '', password: `${name}-password-1` });
    await api(admin, 'admin/set_grant', { machine_id: String(machine.id), subject_kind: 'user', subject_name: name, level });
  }

  // The holder reserves from now on, opens the console and watches the machine boot.
  const erin = await logIn('erin', 'erin-password-1');
  const reservation = await api(erin, 'reserve', {
    machine_id: String(machine.id), start: utc(new Date(Date.now() - 60_000)), end: utc(new Date(Date.now() + 3600_000)), note: 'console test',
  });
  await open(erin, `/machines/${machine.id}`);
  const panel = erin.locator('[data-testid=console-panel]');
  await erin.getByTestId('console-connect').click();
  await erin.locator('[data-testid=console-panel][data-console=live]').waitFor({ timeout: 20_000 });
  assert.equal(await panel.getAttribute('data-keyboard'), 'yours', 'the holder has the keyboard');
  machinePrints('[    0.000000] Linux version 6.1.0-e2e (console test)\r\n[    1.234567] Run /init as init process\r\nbusybox login: ');
  await waitFor('the boot lines on the holder\'s screen', async () => (await screenText(erin)).includes('busybox login:'));
  await screenshot(erin, 'holder-watches-the-boot');

  // The holder types; the machine gets it and answers.
  await erin.locator('[data-testid=console-screen]').click();
  await erin.keyboard.type('echo $((6*7))');
  await erin.keyboard.press('Enter');
  await waitFor('the typed command at the machine', () => typed.includes('echo $((6*7))\r'));
  machinePrints('\r\nSOL-ANSWER-42\r\n# ');
  await waitFor('the answer on the holder\'s screen', async () => (await screenText(erin)).includes('SOL-ANSWER-42'));

  // A manager sees the same bytes (the recording first), read-only, then takes the keyboard.
  const mia = await logIn('mia', 'mia-password-1');
  await open(mia, `/machines/${machine.id}`);
  await mia.getByTestId('console-connect').click();
  const miaPanel = mia.locator('[data-testid=console-panel]');
  await waitFor('the recording on the manager\'s screen', async () => (await screenText(mia)).includes('SOL-ANSWER-42'));
  assert.match(await screenText(mia), /Linux version 6\.1\.0-e2e/);
  assert.equal(await miaPanel.getAttribute('data-keyboard'), 'other', 'the manager watches');
  const before = typed.length;
  await mia.locator('[data-testid=console-screen]').click();
  await mia.keyboard.type('ignored');
  await waitFor('the read-only notice', async () => (await miaPanel.getAttribute('data-state')) === 'read-only');
  assert.equal(typed.length, before, 'a watcher\'s keys never reach the machine');
  await mia.getByTestId('console-take-keyboard').click();
  await waitFor('the keyboard moved', async () => (await miaPanel.getAttribute('data-keyboard')) === 'yours');
  await waitFor('the holder told', async () => (await panel.getAttribute('data-keyboard')) === 'other');
  await mia.locator('[data-testid=console-screen]').click();
  await mia.keyboard.type('uptime');
  await waitFor('the manager\'s command at the machine', () => typed.includes('uptime'));
  // BREAK reaches the machine: ipmi_sim's TCP serial line carries it as telnet's IAC BRK, which
  // ipmi_sim only writes out with the next characters (a real serial port breaks at once).
  await mia.getByTestId('console-break').click();
  await waitFor('the BREAK mark in the console', async () => (await screenText(mia)).includes('[baas] BREAK sent'));
  await mia.locator('[data-testid=console-screen]').click();
  await mia.keyboard.type('z');
  await waitFor('BREAK at the machine', () => typed.includes(Buffer.from([0xff, 0xf3, 0x7a])));
  await screenshot(mia, 'manager-has-the-keyboard');

  // A viewer of the machine has no console.
  const vic = await logIn('vic', 'vic-password-1');
  await open(vic, `/machines/${machine.id}`);
  assert.equal(await vic.getByTestId('console-connect').count(), 0);
  const refused = await vic.request.get(`${base}/api/v1/machines/${machine.id}/console/log`);
  assert.equal(refused.status(), 403);

  // The downloaded log holds the whole session.
  const [download] = await Promise.all([erin.waitForEvent('download'), erin.getByTestId('console-download').click()]);
  const log = readFileSync(await download.path(), 'utf8');
  for (const line of ['Linux version 6.1.0-e2e', 'busybox login:', 'SOL-ANSWER-42', '[baas] BREAK sent']) {
    assert.ok(log.includes(line), `${line} in the downloaded log:\n${log}`);
  }

  // The reservation ends: the holder's console closes and says why.
  await api(erin, 'release', { id: String(reservation.id) });
  await waitFor('the holder\'s console closed', async () => (await panel.getAttribute('data-state')) === 'ended', 20_000);
  assert.match(await panel.getByTestId('console-state').textContent(), /reservation of this machine ended/);
  await screenshot(erin, 'console-closed-at-the-end');
  // The terminal drew under the pages' Content-Security-Policy without anything refused.
  for (const page of [admin, erin, mia, vic]) assertNothingBlocked(page);
});
