// The portal in real Chromium: an admin sets up users, a group, machines and a grant; a user
// reserves; a second user is refused an overlapping slot and told why; the admin audits it all.
// Screenshots of every page visited go to end2end/artifacts/portal/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { binary, launchChromium, root, session, siteRoot, utc } from './support.mjs';

const ADMIN_PASSWORD = 'e2e-admin-password';

let server, browser, base, dataDir, ipmiSim, ipmiDir, sushy, sushyDir, pxePort;
let screenshot, open, logIn, logOut;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * What a machine's PXE firmware sends baas' ProxyDHCP before it fetches its boot script: a
 * DHCPREQUEST to the boot server port, here from the loopback address `from`. Resolves once
 * baas answered (its DHCP has then seen `mac` at `from`).
 */
function pxeRequest(mac, from) {
  const header = Buffer.alloc(240);
  header.set([1, 1, 6], 0); // BOOTREQUEST, Ethernet, 6-byte hardware address
  header.writeUInt32BE(0x2a5c0001, 4);
  header.set(mac.split(':').map((h) => parseInt(h, 16)), 28);
  header.writeUInt32BE(0x63825363, 236);
  const vendorClass = Buffer.from('PXEClient:Arch:00007:UNDI:003000');
  const packet = Buffer.concat([
    header,
    Buffer.from([53, 1, 3]), // DHCPREQUEST
    Buffer.from([60, vendorClass.length]), vendorClass,
    Buffer.from([93, 2, 0, 7]), // x86-64 UEFI
    Buffer.from([97, 17, 0, ...new Array(16).fill(0)]),
    Buffer.from([255]),
  ]);
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => { socket.close(); reject(new Error('ProxyDHCP did not answer')); }, 5000);
    socket.once('message', (reply) => { clearTimeout(timer); socket.close(); resolve(reply); });
    socket.bind(0, from, () => socket.send(packet, pxePort, '127.0.0.1'));
  });
}

/** GET `path` from the loopback address `from` (as a machine at that address would). */
function fetchFrom(from, path) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${base}${path}`, { localAddress: from }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

async function waitForServer(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not answer ${url} within ${ms} ms`);
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'baas-e2e-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  pxePort = await freeUdpPort();
  // A stand-in management OS kernel: only its URL and bytes matter here.
  writeFileSync(join(dataDir, 'mgmt-kernel'), 'management kernel bytes');
  server = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      BAAS_HTTP_ADDR: `127.0.0.1:${port}`,
      BAAS_DATA_DIR: dataDir,
      BAAS_SITE_ROOT: siteRoot,
      BAAS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      BAAS_TFTP_ADDR: 'off',
      // ProxyDHCP's boot server port only, on loopback: machines that "network-boot" here
      // are seen asking as on a lab network (binding to an interface needs root).
      BAAS_DHCP_MODE: 'proxy',
      BAAS_DHCP_INTERFACES: 'lo',
      BAAS_DHCP_ADDR: 'off',
      BAAS_PXE_ADDR: `127.0.0.1:${pxePort}`,
      BAAS_MGMT_KERNEL: join(dataDir, 'mgmt-kernel'),
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitForServer(`${base}/healthz`, 30_000);
  browser = await launchChromium();
  ({ screenshot, open, logIn, logOut } = session(browser, base, 'portal'));
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  ipmiSim?.kill('SIGTERM');
  sushy?.kill('SIGTERM');
  if (sushyDir) rmSync(sushyDir, { recursive: true, force: true });
  if (ipmiDir) rmSync(ipmiDir, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The same moment on the wall clock of a zone `offsetMinutes` east of UTC (no DST there). */
function wallClock(date, offsetMinutes) {
  return utc(new Date(date.getTime() + offsetMinutes * 60 * 1000));
}

test('admin sets up the lab, users book, overlaps are refused, the audit log shows it all', async () => {
  // Admin: users, group, machines, grants.
  let page = await logIn('admin', ADMIN_PASSWORD);
  await screenshot(page, 'admin-dashboard-empty');

  await open(page, '/admin/users');
  for (const name of ['alice', 'bob']) {
    const form = page.locator('[data-testid=create-user-form]');
    await form.locator('input[name=username]').fill(name);
    await form.locator('input[name=display_name]').fill(`${name[0].toUpperCase()}${name.slice(1)} Tester`);
    await form.locator('input[name=password]').fill(`${name}-password-1`);
    await form.locator('button[type=submit]').click();
    await page.locator('[data-testid=users]').getByText(name, { exact: true }).waitFor();
  }
  const shortPassword = page.locator('[data-testid=create-user-form]');
  await shortPassword.locator('input[name=username]').fill('carol');
  await shortPassword.locator('input[name=password]').fill('short');
  await shortPassword.locator('button[type=submit]').click();
  await page.locator('[data-field-error=password]').getByText('at least 8 characters').waitFor();
  await screenshot(page, 'admin-users');

  await open(page, '/admin/groups');
  const groupForm = page.locator('[data-testid=create-group-form]');
  await groupForm.locator('input[name=name]').fill('kernel-team');
  await groupForm.locator('input[name=description]').fill('People who test kernels');
  await groupForm.locator('button[type=submit]').click();
  const group = page.locator('[data-testid=group]', { hasText: 'kernel-team' });
  await group.waitFor();
  await group.locator('input[name=username]').fill('alice');
  await group.getByRole('button', { name: 'Add member' }).click();
  await group.locator('li', { hasText: 'alice' }).waitFor();
  await screenshot(page, 'admin-groups');

  // A bad MAC is refused with a message at the field.
  await open(page, '/admin/machines/new');
  const machineForm = page.locator('[data-testid=machine-form]');
  await machineForm.locator('input[name="input[name]"]').fill('node-01');
  await machineForm.locator('input[name="input[macs]"]').fill('52:54:00:zz:00:01');
  await machineForm.locator('button[type=submit]').click();
  await page.locator('[data-field-error=macs]').getByText('is not a MAC address').waitFor();
  await screenshot(page, 'admin-machine-bad-mac');

  await machineForm.locator('input[name="input[macs]"]').fill('52:54:00:12:34:01, 52:54:00:12:34:02');
  await machineForm.locator('select[name="input[platform]"]').selectOption('x86_64-bios');
  await machineForm.locator('select[name="input[bmc_kind]"]').selectOption('ipmi');
  await machineForm.locator('input[name="input[bmc_address]"]').fill('127.0.0.1:9623');
  await machineForm.locator('input[name="input[bmc_username]"]').fill('root');
  await machineForm.locator('input[name="input[bmc_password]"]').fill('bmc-secret-password');
  await machineForm.locator('input[name="input[location]"]').fill('Room 101, rack 4');
  await machineForm.locator('input[name="input[tags]"]').fill('gpu, big-memory');
  await Promise.all([
    page.waitForURL(/\/machines\/\d+$/),
    machineForm.locator('button[type=submit]').click(),
  ]);
  await page.waitForSelector('body[data-hydrated]');
  const machineUrl = page.url();
  assert.ok(!(await page.content()).includes('bmc-secret-password'), 'BMC password must never reach the browser');
  await page.getByText('credentials stored').waitFor();

  const grantForm = page.locator('[data-testid=grant-form]');
  await grantForm.locator('select[name=subject_kind]').selectOption('group');
  await grantForm.locator('input[name=subject_name]').fill('kernel-team');
  await grantForm.locator('select[name=level]').selectOption('use');
  await grantForm.locator('button[type=submit]').click();
  await page.getByText('group:kernel-team').waitFor();
  await grantForm.locator('select[name=subject_kind]').selectOption('user');
  await grantForm.locator('input[name=subject_name]').fill('bob');
  await grantForm.locator('button[type=submit]').click();
  await page.getByText('user:bob').waitFor();
  await screenshot(page, 'admin-machine');

  // A second machine nobody was granted.
  await open(page, '/admin/machines/new');
  await machineForm.locator('input[name="input[name]"]').fill('hidden-02');
  await machineForm.locator('input[name="input[macs]"]').fill('52:54:00:12:34:03');
  await Promise.all([page.waitForURL(/\/machines\/\d+$/), machineForm.locator('button[type=submit]').click()]);
  await logOut(page);

  // Alice (through her group) sees exactly one machine and reserves it.
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
  tomorrow.setUTCHours(10, 0, 0, 0);
  const hours = (n) => new Date(tomorrow.getTime() + n * 3600 * 1000);
  page = await logIn('alice', 'alice-password-1');
  const cards = page.locator('[data-testid=machine-card]');
  assert.equal(await cards.count(), 1);
  assert.match(await cards.first().textContent(), /node-01/);
  await screenshot(page, 'alice-dashboard');
  await open(page, new URL(machineUrl).pathname);
  const reserve = page.locator('[data-testid=reserve-form]');
  await reserve.locator('input[data-utc-for=start]').fill(utc(tomorrow));
  await reserve.locator('input[data-utc-for=end]').fill(utc(hours(2)));
  await reserve.locator('input[name=note]').fill('kernel regression run');
  await reserve.locator('button[type=submit]').click();
  await page.getByText('Reserved.').waitFor();
  await page.locator('[data-testid=reservations]').getByText('kernel regression run').waitFor();
  await screenshot(page, 'alice-reserved');
  const hidden = await page.request.post(`${base}/api/machine`, { form: { id: '2' } });
  assert.equal(hidden.status(), 404, 'a machine without grant stays invisible');
  await open(page, '/reservations');
  await page.getByText('node-01').waitFor();
  await screenshot(page, 'alice-reservations');
  await logOut(page);

  // Bob, whose browser is in India (UTC+5:30), may use the machine but not take an overlapping
  // slot; he is told who holds it. He types and reads his own wall-clock times; baas keeps UTC.
  const india = 330;
  page = await logIn('bob', 'bob-password-1', { timezoneId: 'Asia/Kolkata' });
  await open(page, new URL(machineUrl).pathname);
  const bobReserve = page.locator('[data-testid=reserve-form]');
  await bobReserve.locator('input[data-utc-for=start]').fill(wallClock(hours(1), india));
  await bobReserve.locator('input[data-utc-for=end]').fill(wallClock(hours(3), india));
  await bobReserve.locator('button[type=submit]').click();
  const refusal = page.getByRole('alert').filter({ hasText: 'already reserved by alice' });
  await refusal.waitFor();
  await screenshot(page, 'bob-refused');
  await bobReserve.locator('input[data-utc-for=start]').fill(wallClock(hours(2), india));
  await bobReserve.locator('input[data-utc-for=end]').fill(wallClock(hours(4), india));
  await bobReserve.locator('button[type=submit]').click();
  await page.getByText('Reserved.').waitFor();
  const mine = (await (await page.request.post(`${base}/api/my_reservations`)).json())
    .filter((r) => r.username === 'bob');
  assert.equal(mine.length, 1);
  assert.equal(mine[0].start_at * 1000, hours(2).getTime(), 'stored in UTC');
  await open(page, '/reservations');
  const shown = page.locator('time[data-local]').first();
  await page.waitForFunction(() => /GMT\+5:30|IST/.test(document.querySelector('time[data-local]')?.textContent ?? ''));
  assert.equal(await shown.getAttribute('title'), `${utc(hours(2)).replace('T', ' ')} UTC`);
  assert.equal((await shown.textContent()).slice(0, 16), wallClock(hours(2), india).replace('T', ' '));
  await logOut(page);

  // The admin sees all of it in the audit log, and can filter it.
  page = await logIn('admin', ADMIN_PASSWORD);
  await open(page, '/admin/audit');
  const audit = page.locator('[data-testid=audit]');
  for (const action of ['user.create', 'group.create', 'group.add_member', 'machine.create', 'grant.set', 'reservation.create', 'session.login']) {
    await audit.getByText(action, { exact: true }).first().waitFor();
  }
  await page.fill('input[name=actor]', 'alice');
  // The table refreshes when the filtered list arrives; wait for it rather than reading the old one.
  let actors = [];
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await page.waitForTimeout(100)) {
    actors = await audit.locator('tbody tr td:nth-child(2)').allTextContents();
    if (actors.length > 0 && actors.every((a) => a === 'alice')) break;
  }
  assert.ok(actors.length > 0 && actors.every((a) => a === 'alice'), `filtered actors: ${actors}`);
  await screenshot(page, 'admin-audit');
  await open(page, '/admin/settings');
  // The boot program table: a path is refused by its field, a file the TFTP root lacks is saved
  // and listed as missing, and the default comes back.
  const programs = page.locator('[data-testid=boot-programs]');
  const unknownProgram = programs.locator('input[name=unknown]');
  await unknownProgram.fill('../ipxe.efi');
  await programs.getByRole('button', { name: 'Save boot programs' }).click();
  await programs.getByText('must be a file name of the TFTP root').waitFor();
  await unknownProgram.fill('no-such-program.efi');
  await programs.getByRole('button', { name: 'Save boot programs' }).click();
  await programs.getByText('Boot programs saved.').waitFor();
  await programs.locator('[data-testid=missing-boot-programs]', { hasText: 'no-such-program.efi' }).waitFor();
  assert.equal(await programs.locator('input[name=unknown]').inputValue(), 'no-such-program.efi');
  await screenshot(page, 'admin-settings');
  await programs.locator('input[name=unknown]').fill('ipxe.efi');
  await programs.getByRole('button', { name: 'Save boot programs' }).click();
  await programs.locator('[data-testid=missing-boot-programs]', { hasText: 'no-such-program.efi' }).waitFor({ state: 'detached' });
  await page.setViewportSize({ width: 390, height: 844 });
  await open(page, '/');
  await screenshot(page, 'admin-dashboard-phone');
  await logOut(page);
});

function freeUdpPort() {
  return new Promise((resolve) => {
    const probe = createSocket('udp4');
    probe.bind(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** OpenIPMI's ipmi_sim with the same files the Rust BMC tests use (bmc/testdata/ipmi_sim). */
async function startIpmiSim() {
  const files = join(root, 'bmc', 'testdata', 'ipmi_sim');
  ipmiDir = mkdtempSync(join(tmpdir(), 'baas-ipmi-'));
  const port = await freeUdpPort();
  const hook = join(ipmiDir, 'chassis.sh');
  copyFileSync(join(files, 'chassis.sh'), hook);
  chmodSync(hook, 0o755);
  const lan = readFileSync(join(files, 'lan.conf.in'), 'utf8').replaceAll('@PORT@', String(port)).replaceAll('@HOOK@', hook).replaceAll('@SOL@', '');
  writeFileSync(join(ipmiDir, 'lan.conf'), lan);
  copyFileSync(join(files, 'bmc.emu'), join(ipmiDir, 'bmc.emu'));
  mkdirSync(join(ipmiDir, 'simstate'));
  ipmiSim = spawn('ipmi_sim', ['-c', 'lan.conf', '-f', 'bmc.emu', '-s', 'simstate', '-n'], { cwd: ipmiDir, stdio: 'ignore' });
  return port;
}

function simState(name) {
  try { return readFileSync(join(ipmiDir, 'state', name), 'utf8').trim(); } catch { return ''; }
}

test('the holder of a running reservation powers the machine through baas; others cannot', async () => {
  const port = await startIpmiSim();
  const admin = await logIn('admin', ADMIN_PASSWORD);
  const api = async (path, form) => {
    const res = await admin.request.post(`${base}/api/${path}`, { form });
    assert.equal(res.status(), 200, `${path}: ${await res.text()}`);
    return res.json();
  };
  const machine = await api('admin/create_machine', {
    'input[name]': 'bmc-01', 'input[macs]': '52:54:00:aa:bb:01', 'input[platform]': 'x86_64-uefi',
    'input[bmc_kind]': 'ipmi', 'input[bmc_address]': `127.0.0.1:${port}`, 'input[bmc_username]': 'admin',
    'input[bmc_password]': 'password', 'input[location]': '', 'input[tags]': '', 'input[description]': '',
    'input[state]': 'available',
  });
  for (const name of ['carol', 'dave']) {
    await api('admin/create_user', { username: name, display_name: '', password: `${name}-password-1` });
    await api('admin/set_grant', { machine_id: String(machine.id), subject_kind: 'user', subject_name: name, level: 'use' });
  }
  await logOut(admin);

  let page = await logIn('carol', 'carol-password-1');
  const now = new Date(Date.now() + 60 * 1000);
  const reserved = await page.request.post(`${base}/api/reserve`, {
    form: { machine_id: String(machine.id), start: utc(new Date(Date.now() - 60 * 1000)), end: utc(new Date(now.getTime() + 3600 * 1000)), note: 'power test' },
  });
  assert.equal(reserved.status(), 200, await reserved.text());
  await open(page, `/machines/${machine.id}`);
  // The badge says who holds the machine until when, with a space between "until" and the time
  // (a flex badge once trimmed it: "until2026-…").
  // The machine streams in after hydration on a slow machine: wait for the badge first.
  const holderBadge = () => [...document.querySelectorAll('span')].find((s) => /^held by carol until/.test(s.textContent) && s.querySelector('time'));
  await page.waitForFunction(holderBadge, null, { timeout: 15_000 });
  const gap = await page.evaluate(() => {
    const badge = [...document.querySelectorAll('span')].find((s) => /^held by carol until/.test(s.textContent) && s.querySelector('time'));
    const walker = document.createTreeWalker(badge, NodeFilter.SHOW_TEXT);
    const words = document.createRange();
    words.selectNodeContents(walker.nextNode());
    return badge.querySelector('time').getBoundingClientRect().left - words.getBoundingClientRect().right;
  });
  assert.ok(gap >= 2, `"until" and the time touch (${gap} px apart)`);
  const panel = page.locator('[data-testid=power-panel]');
  await panel.locator('[data-testid=power-state]', { hasText: 'off' }).waitFor();
  await panel.getByRole('button', { name: 'Power on' }).click();
  await panel.locator('[data-testid=power-state]', { hasText: 'on' }).waitFor();
  assert.equal(simState('power'), '1');
  await panel.locator('select[name=device]').selectOption('pxe');
  await panel.getByRole('button', { name: 'Set', exact: true }).click();
  await panel.getByText('Next boot device set.').waitFor();
  assert.equal(simState('boot'), 'pxe');
  await screenshot(page, 'carol-power-on');
  await logOut(page);

  page = await logIn('dave', 'dave-password-1');
  await open(page, `/machines/${machine.id}`);
  await page.getByText('Power and boot control is available during your own reservation.').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Power on' }).count(), 0);
  const refused = await page.request.post(`${base}/api/bmc/power`, { form: { machine_id: String(machine.id), action: 'off' } });
  assert.equal(refused.status(), 403);
  assert.equal(simState('power'), '1');
  await screenshot(page, 'dave-no-power');
  await logOut(page);
});

test('a user uploads an image with live progress, the connection drops and the upload resumes, the library shows the right checksum', async () => {
  // 20 MiB raw disk (MBR signature) = three 8 MiB PATCH chunks; the second one is dropped.
  const bytes = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE(i, i);
  bytes[510] = 0x55;
  bytes[511] = 0xaa;
  const sha256 = createHash('sha256').update(bytes).digest('hex');

  const page = await logIn('admin', ADMIN_PASSWORD);
  let patches = 0;
  let dropped = 0;
  await page.route('**/api/v1/uploads/*', async (route) => {
    if (route.request().method() === 'PATCH' && ++patches === 2) {
      dropped += 1;
      return route.abort('connectionreset');
    }
    return route.continue();
  });
  await open(page, '/images/upload');
  await page.waitForSelector('html[data-upload-ready]');
  const form = page.locator('form[data-upload=file]');
  await form.locator('input[name=file]').setInputFiles({ name: 'e2e-disk.img', mimeType: 'application/octet-stream', buffer: bytes });
  await form.locator('input[name=name]').fill('e2e-disk');
  await form.locator('textarea[name=description]').fill('uploaded by the browser test');
  await form.getByRole('button', { name: 'Upload' }).click();

  await page.waitForSelector('form[data-upload=file][data-interruptions="1"]');
  assert.match(await form.locator('[data-testid=upload-status]').textContent(), /Connection lost at 8\.0 MiB/);
  assert.match(await form.locator('[data-testid=upload-numbers]').textContent(), /of 20\.0 MiB/);
  await screenshot(page, 'upload-interrupted');
  await form.locator('[data-testid=uploaded-image]').waitFor({ timeout: 60_000 });
  assert.equal(await form.getAttribute('data-resumes'), '1');
  assert.match(await form.locator('[data-testid=upload-numbers]').textContent(), /20\.0 MiB of 20\.0 MiB \(100%\)/);
  assert.equal(dropped, 1);
  await screenshot(page, 'upload-done');

  await open(page, '/images');
  const row = page.locator('[data-testid=images] tr', { hasText: 'e2e-disk' });
  assert.match(await row.textContent(), /v1.*raw · none.*20\.0 MiB/);
  await screenshot(page, 'image-library');
  await row.getByRole('link', { name: 'e2e-disk' }).click();
  await page.locator('[data-testid=sha256]').waitFor();
  assert.equal((await page.locator('[data-testid=sha256]').textContent()).trim(), sha256);
  await screenshot(page, 'image-detail');

  // The bytes served back are the bytes uploaded.
  const content = await page.request.get(`${base}${new URL(page.url()).pathname}/content`);
  assert.equal(content.status(), 200);
  assert.equal(createHash('sha256').update(await content.body()).digest('hex'), sha256);
  await logOut(page);
});

/** sushy-emulator (fake driver) over HTTPS with a fresh self-signed certificate; returns its port
 *  and the certificate's SHA-256 fingerprint for pinning. */
async function startSushy() {
  const emulator = process.env.BAAS_SUSHY_EMULATOR ?? join(process.env.HOME, '.cache', 'baas', 'sushy-venv', 'bin', 'sushy-emulator');
  sushyDir = mkdtempSync(join(tmpdir(), 'baas-sushy-'));
  const port = await freePort();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: sushyDir, stdio: 'ignore' });
  const fingerprint = new X509Certificate(readFileSync(join(sushyDir, 'cert.pem'))).fingerprint256;
  const python = join(dirname(emulator), 'python');
  const htpasswd = execFileSync(python, ['-c', "import bcrypt; print('admin:' + bcrypt.hashpw(b'password', bcrypt.gensalt()).decode())"]);
  writeFileSync(join(sushyDir, 'htpasswd'), htpasswd);
  mkdirSync(join(sushyDir, 'state'));
  mkdirSync(join(sushyDir, 'tmp'));
  writeFileSync(join(sushyDir, 'emulator.conf'), [
    "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'", `SUSHY_EMULATOR_LISTEN_PORT = ${port}`, 'SUSHY_EMULATOR_FAKE_DRIVER = True',
    `SUSHY_EMULATOR_STATE_DIR = '${join(sushyDir, 'state')}'`, `SUSHY_EMULATOR_AUTH_FILE = '${join(sushyDir, 'htpasswd')}'`,
    "SUSHY_EMULATOR_FAKE_SYSTEMS = [{'uuid': '27946b59-9e44-4fa7-8e91-f3527a1ef094', 'name': 'node-1', 'power_state': 'Off', 'nics': [{'mac': '52:54:00:12:34:57', 'ip': '10.99.0.11'}]}]",
  ].join('\n') + '\n');
  sushy = spawn(emulator, ['--config', 'emulator.conf', '--ssl-certificate', 'cert.pem', '--ssl-key', 'key.pem'],
    { cwd: sushyDir, env: { ...process.env, TMPDIR: join(sushyDir, 'tmp') }, stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      execFileSync('curl', ['-sfk', '-o', '/dev/null', `https://127.0.0.1:${port}/redfish/v1/`]);
      return { port, fingerprint };
    } catch {
      if (Date.now() > deadline) throw new Error('sushy-emulator did not come up');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** The files sushy downloaded for InsertMedia (one temporary directory per insert). */
function sushyDownloads() {
  const tmp = join(sushyDir, 'tmp');
  return readdirSync(tmp, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith('sushy'))
    .flatMap((d) => readdirSync(join(tmp, d.name)).map((f) => join(tmp, d.name, f)))
    .filter((f) => existsSync(f));
}

test('a reservation holder powers a Redfish machine on and attaches an ISO from the library through baas; a user without a reservation cannot', async () => {
  const { port, fingerprint } = await startSushy();
  const admin = await logIn('admin', ADMIN_PASSWORD);
  const api = async (path, form) => {
    const res = await admin.request.post(`${base}/api/${path}`, { form });
    assert.equal(res.status(), 200, `${path}: ${await res.text()}`);
    return res.json();
  };
  const machine = await api('admin/create_machine', {
    'input[name]': 'redfish-01', 'input[macs]': '52:54:00:aa:bb:02', 'input[platform]': 'x86_64-uefi',
    'input[bmc_kind]': 'redfish', 'input[bmc_address]': `127.0.0.1:${port}`, 'input[bmc_username]': 'admin',
    'input[bmc_password]': 'password', 'input[bmc_tls_pin]': fingerprint, 'input[location]': '', 'input[tags]': '',
    'input[description]': '', 'input[state]': 'available',
  });
  for (const name of ['erin', 'frank']) {
    await api('admin/create_user', { username: name, display_name: '', password: `${name}-password-1` });
    await api('admin/set_grant', { machine_id: String(machine.id), subject_kind: 'user', subject_name: name, level: 'use' });
  }
  await logOut(admin);

  // An ISO in the library (4 MiB, ISO 9660 descriptor at 32 KiB), uploaded with erin's session.
  const iso = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < iso.length; i += 2048) iso.writeUInt32LE(i, i);
  iso[0x8000] = 1;
  iso.write('CD001', 0x8001, 'latin1');
  iso.writeUInt32LE(iso.length / 2048, 0x8050);
  iso.writeUInt16LE(2048, 0x8080);
  const isoSha = createHash('sha256').update(iso).digest('hex');

  let page = await logIn('erin', 'erin-password-1');
  const put = await page.request.put(`${base}/api/v1/images/rescue-cd?visibility=public`, { data: iso });
  assert.equal(put.status(), 201, await put.text());
  const reserved = await page.request.post(`${base}/api/reserve`, {
    form: { machine_id: String(machine.id), start: utc(new Date(Date.now() - 60 * 1000)), end: utc(new Date(Date.now() + 3600 * 1000)), note: 'media test' },
  });
  assert.equal(reserved.status(), 200, await reserved.text());
  await open(page, `/machines/${machine.id}`);

  // Power on: sushy applies it 1–11 s later, so the page is asked again until it reads "on".
  const power = page.locator('[data-testid=power-panel]');
  await power.locator('[data-testid=power-state]', { hasText: 'off' }).waitFor({ timeout: 20_000 });
  await power.getByRole('button', { name: 'Power on' }).click();
  await power.getByText('Done.').waitFor();
  const deadline = Date.now() + 30_000;
  for (;;) {
    await open(page, `/machines/${machine.id}`);
    const state = page.locator('[data-testid=power-panel] [data-testid=power-state]');
    await state.waitFor({ timeout: 20_000 });
    if ((await state.textContent()).trim() === 'on') break;
    assert.ok(Date.now() < deadline, 'the BMC never reported power on');
    await new Promise((r) => setTimeout(r, 2000));
  }

  const media = page.locator('[data-testid=media-panel]');
  await media.locator('select[name=image_id]').selectOption({ label: 'rescue-cd v1 (erin)' });
  await media.getByRole('button', { name: 'Attach' }).click();
  await media.locator('[data-testid=media-state]', { hasText: 'attached' }).waitFor({ timeout: 60_000 });
  const downloads = sushyDownloads();
  assert.equal(downloads.length, 1, String(downloads));
  assert.equal(createHash('sha256').update(readFileSync(downloads[0])).digest('hex'), isoSha);
  await screenshot(page, 'erin-media-attached');
  await logOut(page);

  page = await logIn('frank', 'frank-password-1');
  await open(page, `/machines/${machine.id}`);
  const frankMedia = page.locator('[data-testid=media-panel]');
  await frankMedia.getByText('Attaching media is available during your own reservation.').waitFor();
  assert.equal(await frankMedia.getByRole('button', { name: 'Attach' }).count(), 0);
  assert.equal(await frankMedia.getByRole('button', { name: 'Detach' }).count(), 0);
  await frankMedia.locator('[data-testid=media-state]', { hasText: 'attached' }).waitFor();
  const refused = await page.request.post(`${base}/api/media/attach`, { form: { machine_id: String(machine.id), image_id: '1' } });
  assert.equal(refused.status(), 403);
  await screenshot(page, 'frank-media-refused');
  await logOut(page);

  page = await logIn('erin', 'erin-password-1');
  await open(page, `/machines/${machine.id}`);
  await page.locator('[data-testid=media-panel]').getByRole('button', { name: 'Detach' }).click();
  await page.locator('[data-testid=media-panel] [data-testid=media-state]', { hasText: 'detached' }).first().waitFor();
  await logOut(page);
});

test('a machine that network-boots unknown shows up as discovered, an admin adopts it, boots it into the management OS and enlists unknown machines', async () => {
  // Anyone may fetch a boot script for a made-up MAC: it is answered, but nothing is recorded.
  const stranger = await fetch(`${base}/boot/52-54-00-d1-5c-09.ipxe?arch=x86_64&platform=efi`);
  assert.match(await stranger.text(), /not in the inventory/);
  // A machine's firmware asks baas' DHCP first, then iPXE asks for the script from the same
  // address (the MAC in dash notation, as some firmware prints it).
  await pxeRequest('52:54:00:d1:5c:01', '127.0.0.2');
  const script = await fetchFrom('127.0.0.2', '/boot/52-54-00-d1-5c-01.ipxe?arch=x86_64&platform=efi');
  assert.equal(script.status, 200);
  assert.match(script.body, /^#!ipxe\n[\s\S]*not in the inventory[\s\S]*exit 1\n$/);

  const page = await logIn('admin', ADMIN_PASSWORD);
  await open(page, '/admin/discovered');
  const row = page.locator('[data-testid=discovered] tr', { hasText: '52:54:00:d1:5c:01' });
  assert.match(await row.textContent(), /x86_64 efi/);
  assert.equal(await page.locator('[data-testid=discovered] tr', { hasText: '52:54:00:d1:5c:09' }).count(), 0);
  assert.equal(await row.locator('select[name=platform]').inputValue(), 'x86_64-uefi');
  await screenshot(page, 'discovered');
  await row.locator('input[name=name]').fill('found-01');
  await row.getByRole('button', { name: 'Adopt' }).click();
  await page.getByRole('link', { name: 'found-01' }).click();
  await page.waitForURL(/\/machines\/\d+$/);
  await page.locator('[data-testid=boot-events]').waitFor();
  assert.match(await page.locator('[data-testid=boot-events]').textContent(), /52:54:00:d1:5c:01.*script/);
  assert.match(await page.textContent('main'), /x86_64-uefi/);
  await screenshot(page, 'adopted');

  // A boot job: the next script boots the management OS with a one-time token — but only for
  // the address baas' DHCP saw the machine at.
  const machinePage = new URL(page.url()).pathname;
  await page.getByRole('button', { name: 'Boot the management OS at the next network boot' }).click();
  await page.getByText('Boot job created').waitFor();
  const unvouched = await (await fetch(`${base}/boot/52:54:00:d1:5c:01.ipxe?arch=x86_64&platform=efi`)).text();
  assert.doesNotMatch(unvouched, /baas\.token/);
  assert.match(unvouched, /asked from 127\.0\.0\.1, but its address is 127\.0\.0\.2/);
  await open(page, machinePage);
  // The job runner starts a due job at once: without a BMC it waits for a person to power on.
  await page.locator('[data-testid=job-history] tr', { hasText: /queued|powering/ }).waitFor();
  const jobScript = (await fetchFrom('127.0.0.2', '/boot/52:54:00:d1:5c:01.ipxe?arch=x86_64&platform=efi')).body;
  assert.match(jobScript, /kernel mgmt\/kernel .*baas\.url=\S+ baas\.token=[A-Za-z0-9_-]{43} baas\.purpose=job/);
  const kernel = await fetch(`${base}/boot/mgmt/kernel`);
  assert.equal(await kernel.text(), 'management kernel bytes');
  await open(page, machinePage);
  await page.locator('[data-testid=job-history] tr', { hasText: 'netbooting' }).waitFor();
  await screenshot(page, 'boot-job');
  // One live list of jobs: the current one (with its Cancel) and the latest ones below it.
  await page.locator('[data-testid=jobs]').getByRole('button', { name: 'Cancel job' }).click();
  await page.locator('[data-testid=job-history] tr', { hasText: 'cancelled' }).waitFor();
  assert.equal(await page.locator('[data-testid=boot-jobs]').count(), 0, 'the jobs are listed once');
  const after = await (await fetch(`${base}/boot/52:54:00:d1:5c:01.ipxe`)).text();
  assert.match(after, /found-01 has nothing scheduled/);

  // The discovery policy: unknown machines are enlisted into the management OS.
  await open(page, '/admin/discovered');
  await page.getByText('None at the moment.').waitFor();
  await page.locator('select[name=policy]').selectOption('enlist');
  await page.getByRole('button', { name: 'Save policy' }).click();
  await page.getByText('Discovery policy saved.').waitFor();
  // Enlisting hands a token only to an address baas' DHCP saw the MAC at: none here, and a
  // MAC baas never saw asking is not recorded.
  const enlisted = await (await fetch(`${base}/boot/52:54:00:d1:5c:02.ipxe`)).text();
  assert.doesNotMatch(enlisted, /baas\.token/);
  assert.match(enlisted, /has not seen 52:54:00:d1:5c:02 get an address/);
  // Seen asking, it is enlisted: the management OS with a token for its inventory.
  await pxeRequest('52:54:00:d1:5c:02', '127.0.0.3');
  const enlisting = (await fetchFrom('127.0.0.3', '/boot/52:54:00:d1:5c:02.ipxe')).body;
  assert.match(enlisting, /baas\.token=[A-Za-z0-9_-]{43} baas\.purpose=enlist/);
  await open(page, '/admin/discovered');
  assert.equal(await page.locator('select[name=policy]').inputValue(), 'enlist');
  await page.locator('[data-testid=discovered] tr', { hasText: '52:54:00:d1:5c:02' }).waitFor();
  await logOut(page);
});

let axeSource;

/** Serious and critical accessibility violations axe-core finds on the open page. */
async function axeViolations(page) {
  // Evaluated by the test's DevTools connection: an inline <script> would (rightly) be refused
  // by the page's Content-Security-Policy.
  axeSource ??= readFileSync(join(root, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const results = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join('\n    ')}`);
}

/** Opens every path, expecting it to hydrate without a page error and to pass axe. */
async function checkPages(page, who, paths) {
  const errors = [];
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: console: ${message.text()}`);
  });
  const problems = [];
  for (const path of paths) {
    const response = await page.goto(`${base}${path}`);
    assert.equal(response.status(), 200, `${who} ${path}`);
    const policy = response.headers()['content-security-policy'] ?? '';
    assert.match(policy, /script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'/, `${who} ${path}: ${policy}`);
    assert.doesNotMatch(policy, /unsafe-inline/, `${who} ${path}`);
    await page.waitForSelector('body[data-hydrated]', { timeout: 30_000 });
    // Suspended parts have arrived once no loading placeholder is left.
    await page.waitForFunction(() => !document.body.innerText.includes('Loading…'), null, { timeout: 15_000 });
    for (const violation of await axeViolations(page)) problems.push(`${who} ${path}: ${violation}`);
  }
  assert.deepEqual(errors, [], errors.join('\n'));
  assert.deepEqual(problems, [], problems.join('\n'));
}

test('an admin deploys an image from the machine page and watches every phase live until the machine boots it', { timeout: 5 * 60_000 }, async () => {
  const agent = process.env.BAAS_AGENT;
  if (!agent || !existsSync(agent)) {
    throw new Error('BAAS_AGENT must name the baas-agent binary (./dev test builds it)');
  }
  const page = await logIn('admin', ADMIN_PASSWORD);
  await open(page, '/admin/machines/new');
  const machineForm = page.locator('[data-testid=machine-form]');
  await machineForm.locator('input[name="input[name]"]').fill('deploy-01');
  await machineForm.locator('input[name="input[macs]"]').fill('52:54:00:de:01:01');
  await machineForm.locator('input[name="input[ip_address]"]').fill('127.0.0.1');
  await machineForm.locator('select[name="input[platform]"]').selectOption('x86_64-bios');
  await Promise.all([page.waitForURL(/\/machines\/\d+$/), machineForm.locator('button[type=submit]').click()]);
  const machinePage = new URL(page.url()).pathname;

  // A 96 MiB raw disk (MBR signature, varied bytes), gzip-compressed, into the library.
  const { gzipSync } = await import('node:zlib');
  const raw = Buffer.alloc(96 << 20);
  for (let i = 0; i < raw.length; i += 4096) raw.writeUInt32LE(i, i);
  raw[510] = 0x55; raw[511] = 0xaa;
  const stored = gzipSync(raw, { level: 1 });
  const put = await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const res = await fetch('/api/v1/images/deploy-test?visibility=private', { method: 'PUT', body: bytes });
    return { status: res.status, body: await res.text() };
  }, stored.toString('base64'));
  assert.equal(put.status, 201, put.body);

  await open(page, machinePage);
  const jobs = page.locator('[data-testid=jobs]');
  const option = await jobs.locator('select[name=image_id] option', { hasText: 'deploy-test v1' }).getAttribute('value');
  await jobs.locator('select[name=image_id]').selectOption(option);
  await jobs.getByRole('button', { name: 'Deploy' }).click();
  // Without a BMC the page asks for the power button, and waits.
  await jobs.getByText('This machine has no BMC').waitFor();
  assert.equal(await jobs.locator('[data-testid=current-job]').getAttribute('data-state'), 'powering');
  await screenshot(page, 'deploy-waiting');

  // The machine network-boots: its boot script carries the management OS and a token.
  const script = await (await fetch(`${base}/boot/52:54:00:de:01:01.ipxe`)).text();
  const token = /baas\.token=(\S+)/.exec(script)?.[1];
  assert.ok(token, script);
  // The page follows without a reload.
  await jobs.locator('[data-testid=current-job][data-state=netbooting]').waitFor();
  // What the page shows, sampled: the job's state and the bar's percent, read together. The
  // watcher stops at the job's end, when the test ends another way, or after two minutes.
  const samples = [];
  let stopped = false;
  const watching = (async () => {
    const deadline = Date.now() + 120_000;
    while (!stopped) {
      if (Date.now() > deadline) throw new Error(`the job did not end within 2 min; saw ${JSON.stringify(samples.at(-1))}`);
      const sample = await jobs.evaluate((el) => [
        el.querySelector('[data-testid=current-job]')?.dataset.state ?? null,
        el.querySelector('[data-testid=job-progress]')?.getAttribute('aria-valuenow') ?? null,
      ]).catch(() => [null, null]);
      samples.push(sample);
      const [state] = sample;
      if (state === 'booted' || state === 'boot-unobserved' || state === 'failed') return state;
      await new Promise((r) => setTimeout(r, 50));
    }
    return 'stopped';
  })();
  try {
    // The agent, as the management OS runs it, writing to a file for a disk; slowed to 24 MiB/s
    // so that the page shows several progress reports.
    const target = join(dataDir, 'deployed-disk.img');
    const run = spawn(agent, ['--url', base, '--token', token, '--mac', '52:54:00:de:01:01',
      '--disk', target, '--no-reboot', '--cmdline', '/dev/null', '--max-rate', String(24 << 20)],
    { stdio: ['ignore', 'inherit', 'inherit'] });
    const exited = new Promise((resolve) => run.on('exit', resolve));
    const timer = setTimeout(() => run.kill('SIGKILL'), 120_000);
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, 'the agent failed (or was stopped after 2 min)');
    assert.ok(readFileSync(target).equals(raw), 'the disk does not hold the image');
    await jobs.locator('[data-testid=current-job][data-state=rebooting]').waitFor({ timeout: 20_000 });
    await screenshot(page, 'deploy-rebooting');
    // The machine's next network boot is sent to its disk. It has no BMC, so no console to
    // watch: the job ends saying the boot was not observed, never "booted".
    assert.match(await (await fetch(`${base}/boot/52:54:00:de:01:01.ipxe`)).text(), /sanboot/);
    assert.equal(await watching, 'boot-unobserved');
  } finally {
    stopped = true;
  }
  // Short phases (enrolled, verifying) may pass between two samples; the timeline lists them all.
  const states = new Set(samples.map(([state]) => state));
  for (const phase of ['writing', 'boot-unobserved']) {
    assert.ok(states.has(phase), `${phase} never shown; saw ${[...states]}`);
  }
  // The bar rises while the disk is written, never goes back, and the writing ends at 100 %.
  const writing = samples.filter(([state, percent]) => state === 'writing' && percent !== null).map(([, percent]) => Number(percent));
  assert.ok(writing.every((p, i) => i === 0 || p >= writing[i - 1]), `the bar went back: ${writing}`);
  assert.ok(new Set(writing).size >= 3, `fewer than three percentages shown while writing: ${writing}`);
  assert.ok(Math.max(...writing) - Math.min(...writing) >= 40, `the bar hardly moved: ${writing}`);
  const phases = await jobs.locator('[data-testid=job-phases]').textContent();
  for (const phase of ['queued', 'powering', 'netbooting', 'enrolled', 'writing', 'verifying', 'rebooting', 'booting', 'boot-unobserved']) {
    assert.match(phases, new RegExp(phase));
  }
  assert.match(phases, /96\.0 MiB of 96\.0 MiB \(100 %\)/, 'the writing did not end at 100 %');
  assert.match(phases, /no console baas can watch/);
  // The disk holds the verified image, and the agent's hardware report is shown.
  await jobs.locator('[data-testid=disk-content]', { hasText: 'deploy-test v1' }).waitFor();
  assert.match(await jobs.locator('[data-testid=disk-and-hardware]').textContent(), /CPU.*Memory.*NICs/s);
  await screenshot(page, 'deploy-boot-unobserved');
  // An inventory job from the same section; it waits for the machine, and can be called off.
  await jobs.getByRole('button', { name: 'Take inventory' }).click();
  await jobs.locator('[data-testid=current-job][data-state=powering]', { hasText: 'inventory' }).waitFor();
  await jobs.getByRole('button', { name: 'Cancel job' }).click();
  await jobs.locator('[data-testid=current-job][data-state=cancelled]').waitFor();
  await logOut(page);
});

test('a user books a free slot from the lab calendar, is told before a reservation ends and extends it from the notice link', async () => {
  const admin = await logIn('admin', ADMIN_PASSWORD);
  const api = async (page, path, form) => {
    const res = await page.request.post(`${base}/api/${path}`, { form });
    assert.equal(res.status(), 200, `${path}: ${await res.text()}`);
    return res.json();
  };
  const machine = await api(admin, 'admin/create_machine', {
    'input[name]': 'cal-01', 'input[macs]': '52:54:00:ca:1e:01', 'input[platform]': 'x86_64-uefi',
    'input[bmc_kind]': 'none', 'input[bmc_address]': '', 'input[bmc_username]': '', 'input[bmc_password]': '',
    'input[location]': '', 'input[tags]': 'calendar-test', 'input[description]': '', 'input[state]': 'available',
  });
  await api(admin, 'admin/create_user', { username: 'frida', display_name: 'Frida', password: 'frida-password-1' });
  await api(admin, 'admin/set_grant', { machine_id: String(machine.id), subject_kind: 'user', subject_name: 'frida', level: 'use' });
  await api(admin, 'admin/set_notice_settings', {
    smtp_host: '', smtp_port: '25', smtp_security: 'starttls', smtp_username: '', smtp_password: '', sender: '', lead_minutes: '1440, 60, 10',
  });
  await logOut(admin);

  // The calendar, filtered by the tag: a free slot two days ahead opens a booking form.
  const page = await logIn('frida', 'frida-password-1');
  await open(page, '/calendar?tag=calendar-test');
  const row = page.locator('[data-machine="cal-01"]');
  await row.waitFor();
  assert.equal(await page.locator('[data-machine]').count(), 1, 'the tag filter shows only the tagged machine');
  assert.equal(await row.locator('[data-testid=booking]').count(), 0);
  const slot = row.locator('button:not([disabled])').nth(9);
  const slotStart = await slot.getAttribute('data-slot-start');
  await slot.click();
  const form = page.locator('[data-testid=book-slot]');
  await form.getByText('Reserve cal-01').waitFor();
  assert.equal(await form.locator('input[type=hidden][name=start]').inputValue(), slotStart);
  await form.getByRole('button', { name: 'Reserve', exact: true }).click();
  await page.getByText('Reserved.').waitFor();
  await row.locator('[data-testid=booking][data-mine=true]').waitFor();
  await screenshot(page, 'frida-calendar-booked');
  const mine = await api(page, 'my_reservations', {});
  assert.equal(mine.length, 1);
  assert.equal(utc(new Date(mine[0].start_at * 1000)), slotStart);

  // A reservation that began minutes ago and ends in eight: the ten-minute notice (due after it
  // began) is raised within seconds.
  const now = Date.now();
  const ending = await api(page, 'reserve', {
    machine_id: String(machine.id), start: utc(new Date(now - 210 * 1000)), end: utc(new Date(now + 8 * 60 * 1000)), note: 'almost over',
  });
  const deadline = Date.now() + 30_000;
  let notices = [];
  while (notices.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    notices = (await api(page, 'notices', {})).filter((n) => n.reservation_id === ending.id);
  }
  assert.equal(notices.length, 1, 'the notice was raised');
  console.log(`ten-minute notice raised ${((Date.now() - now) / 1000).toFixed(1)} s after a reservation ending in 8 minutes was booked`);
  assert.match(notices[0].subject, /^Your reservation of cal-01 ends in \d+ minutes$/);

  await open(page, `/machines/${machine.id}`);
  await page.locator('[data-testid=notice-banner]').getByText('Your reservation of cal-01 ends in').waitFor();
  await page.locator('[data-testid=unread-notices]').getByText('1').waitFor();
  await screenshot(page, 'frida-machine-banner');

  await open(page, '/notices');
  const notice = page.locator('[data-testid=notice][data-unread=true]').first();
  await notice.getByText('Your reservation of cal-01 ends in').waitFor();
  await screenshot(page, 'frida-notices');
  await Promise.all([page.waitForURL(`**/reservations/${ending.id}/extend`), notice.getByRole('link', { name: 'Extend' }).click()]);
  await page.waitForSelector('body[data-hydrated]');
  await page.getByRole('button', { name: '+ 1 hour' }).click();
  await page.getByText('Extended.').waitFor();
  await screenshot(page, 'frida-extended');
  const extended = await api(page, 'reservation', { id: String(ending.id) });
  assert.equal(extended.end_at, ending.end_at + 3600);

  // Too far: the lab's limits say why.
  await page.fill('input[name=minutes]:not([type=hidden])', String(100 * 60));
  await page.getByRole('button', { name: 'Extend', exact: true }).click();
  await page.getByText('a reservation may last at most').waitFor();
  await logOut(page);
});

test('the API reference page shows every operation from the OpenAPI document and fetches nothing from elsewhere', async () => {
  const page = await (await browser.newContext()).newPage();
  const elsewhere = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(base)) elsewhere.push(request.url());
  });
  await page.goto(`${base}/api/v1/docs`);
  await page.waitForSelector('body[data-loaded]');
  const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json();
  assert.match(doc.openapi, /^3\.1/);
  const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  assert.equal(await page.locator('details[id^="get-"], details[id^="post-"], details[id^="put-"], details[id^="patch-"], details[id^="delete-"], details[id^="head-"], details[id^="options-"]').count(), operations);
  await page.locator('details[id="post-/api/v1/reservations"] summary').click();
  assert.match(await page.locator('details[id="post-/api/v1/reservations"]').textContent(), /NewReservation.*201.*409/s);
  await screenshot(page, 'api-reference');
  assert.deepEqual(elsewhere, []);
  await page.context().close();
});

test('every page hydrates without a page error and has no serious or critical accessibility violation, for an admin and a user', async () => {
  const anonymous = await (await browser.newContext()).newPage();
  await checkPages(anonymous, 'anonymous', ['/login']);
  await anonymous.context().close();

  const admin = await logIn('admin', ADMIN_PASSWORD);
  const firstMachine = async (page) => (await (await page.request.post(`${base}/api/dashboard`)).json()).machines[0].id;
  const machine = await firstMachine(admin);
  await checkPages(admin, 'admin', [
    '/', '/reservations', '/calendar', '/notices', '/images', '/images/upload', '/images/1', '/account',
    `/machines/${machine}`, `/machines/${machine}/edit`,
    '/admin/machines/new', '/admin/users', '/admin/groups', '/admin/audit', '/admin/settings', '/admin/discovered',
  ]);
  await logOut(admin);

  const user = await logIn('alice', 'alice-password-1');
  await checkPages(user, 'alice', ['/', '/reservations', '/calendar', '/notices', '/images', '/images/upload', '/account', `/machines/${await firstMachine(user)}`]);
  await logOut(user);
});
