// The heart of baas, as a lab user lives it, on a real machine: a QEMU VM with a blank disk whose
// power and next boot belong to an IPMI BMC (OpenIPMI's ipmi_sim, whose chassis hook starts and
// stops QEMU), on a bridge in a network namespace with dnsmasq as the site's DHCP server; baas in
// a second namespace as ProxyDHCP + TFTP + HTTP, serving the management OS `mgmt/build.sh` built.
// Chromium runs in baas' namespace. A user logs in, reserves the VM, uploads a bootable disk image
// and deploys it, watching every phase to booted; the VM then prints the image's marker on its
// serial console. A second deploy saves the disk first: the saved image's content is the disk.
// The lab (namespaces, bridge, tap, dnsmasq, ipmi_sim, QEMU's command line) is end2end/vmlab.sh's.
// Needs root (namespaces, tap devices); screenshots go to end2end/artifacts/vm/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, chromiumPath, launchChromium, root, session, siteRoot, utc } from './support.mjs';

const ADMIN_PASSWORD = 'vm-admin-password';
const MAC = '52:54:00:e2:e0:01';
const vmlab = join(root, 'end2end', 'vmlab.sh');
const mgmtOs = process.env.BAAS_MGMT_OS ?? join(homedir(), '.cache', 'baas', 'mgmt-os');
const markers = [`BAAS-E2E-FIRST-${randomBytes(4).toString('hex')}`, `BAAS-E2E-SECOND-${randomBytes(4).toString('hex')}`];

const missing = (() => {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces and tap devices';
  for (const tool of ['ip', 'qemu-system-x86_64', 'dnsmasq', 'ipmi_sim', 'zstd']) {
    try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { return `needs ${tool} (./dev test installs it)`; }
  }
  return null;
})();
// Under ./dev test, which runs as root with every peer installed, a skip is a failure.
if (missing && process.env.BAAS_TEST_STRICT === '1') throw new Error(`the VM tests cannot run: ${missing}`);

let work, labDir, lab, vmDir, children = [], browser, screenshot, open, logIn, logOut;
const base = 'http://127.0.0.1:3000';

/** `vmlab.sh <command> <lab dir> <args>`; its messages go to the test's output. */
function vmlabRun(command, ...args) {
  execFileSync(vmlab, [command, labDir, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** The lab's DIR/env (KEY=VALUE lines) as an object. */
const readEnv = (dir) => Object.fromEntries(readFileSync(join(dir, 'env'), 'utf8').split('\n')
  .filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));

/** A long-running process in a namespace, killed after the tests. */
function inNamespace(namespace, command, args, options = {}) {
  const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: 'ignore', ...options });
  children.push(child);
  return child;
}

async function waitFor(what, check, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const readOr = (path, otherwise = '') => { try { return readFileSync(path, 'utf8'); } catch { return otherwise; } };
const console_ = () => readOr(lab?.VMLAB_CONSOLE ?? '');
const running = (pid) => { try { return pid && process.kill(Number(pid), 0); } catch { return false; } };
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

before(async () => {
  if (missing) return;
  work = mkdtempSync(join(tmpdir(), 'baas-vm-e2e-'));
  const kernel = join(mgmtOs, 'vmlinuz');
  const initrd = join(mgmtOs, 'initrd.img');
  if (!existsSync(kernel) || !existsSync(initrd)) {
    throw new Error(`no management OS in ${mgmtOs}: BAAS_MGMT_OS must name mgmt/build.sh's output (./dev test builds it)`);
  }
  // Two bootable disks, each printing its own marker (mgmt/test-disk.sh), zstd-compressed.
  markers.forEach((marker, i) => {
    execFileSync(join(root, 'mgmt', 'test-disk.sh'), [kernel, join(work, `disk-${i + 1}.img`), marker], { stdio: 'inherit' });
  });
  // The lab: namespaces, bridge, tap and the site's DHCP server (dnsmasq, addresses only).
  labDir = join(work, 'lab');
  vmlabRun('up', '--subnet', '10.98.0');
  lab = readEnv(labDir);
  vmDir = lab.VMLAB_VM_DIR;
  // The VM's blank 64 MiB disk.
  writeFileSync(join(vmDir, 'disk.img'), '');
  execFileSync('truncate', ['-s', '64M', join(vmDir, 'disk.img')]);
  // The VM's BMC on the lab network (10.98.0.1:623): power on starts QEMU, power off stops it.
  vmlabRun('bmc', '--mac', MAC, '--disk', join(vmDir, 'disk.img'), '--port', '623');
  lab = readEnv(labDir);

  const dataDir = join(work, 'data');
  const log = join(work, 'baas.log');
  const server = inNamespace(lab.VMLAB_SRV_NS, binary, ['serve'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      BAAS_HTTP_ADDR: '0.0.0.0:3000',
      BAAS_PUBLIC_URL: `http://${lab.VMLAB_SERVER_IP}:3000`,
      BAAS_DATA_DIR: dataDir,
      BAAS_SITE_ROOT: siteRoot,
      BAAS_ADMIN_PASSWORD: ADMIN_PASSWORD,
      BAAS_DHCP_MODE: 'proxy',
      BAAS_DHCP_INTERFACES: 'eth0',
      BAAS_TFTP_ADDR: '0.0.0.0:69',
      BAAS_MGMT_KERNEL: kernel,
      BAAS_MGMT_INITRD: initrd,
      // The agent writes at most 8 MiB/s (an admin's knob for shared networks): the 48 MiB
      // image takes about six seconds, so the bar has several values to show.
      BAAS_MGMT_CMDLINE: 'console=ttyS0,115200 baas.max_rate=8388608',
      RUST_LOG: 'info',
      NO_COLOR: '1',
    },
  });
  let listening = false;
  server.stderr.on('data', (chunk) => {
    appendFileSync(log, chunk);
    listening ||= chunk.includes('baas listening');
  });
  await waitFor(`baas did not start (${log})`, () => listening, 30_000);

  // Chromium beside baas, in its namespace: the browser and the lab share one network.
  const wrapper = join(work, 'chromium-in-lab');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.VMLAB_SRV_NS} ${chromiumPath} "$@"\n`);
  chmodSync(wrapper, 0o755);
  browser = await launchChromium(wrapper);
  ({ screenshot, open, logIn, logOut } = session(browser, base, 'vm'));
});

after(async () => {
  await browser?.close();
  // baas and Chromium, then the lab (the VM, its BMC, dnsmasq, the namespaces).
  for (const child of children) child.kill('SIGKILL');
  if (labDir) {
    try { vmlabRun('down'); } catch (e) { console.error(`vmlab.sh down failed: ${e.message}`); }
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Posts a server function's form from the page (same origin, the page's session). */
async function call(page, path, form) {
  const answer = await page.evaluate(async ([path, form]) => {
    const res = await fetch(`/api/${path}`, { method: 'POST', body: new URLSearchParams(form) });
    return { status: res.status, body: await res.text() };
  }, [path, form]);
  assert.equal(answer.status, 200, `${path}: ${answer.body}`);
  return JSON.parse(answer.body);
}

/** Uploads `file` from the upload page as the next version of `name`. */
async function upload(page, file, name) {
  await open(page, '/images/upload');
  await page.waitForSelector('html[data-upload-ready]');
  const form = page.locator('form[data-upload=file]');
  await form.locator('input[name=file]').setInputFiles(file);
  await form.locator('input[name=name]').fill(name);
  await form.getByRole('button', { name: 'Upload' }).click();
  await form.locator('[data-testid=uploaded-image]').waitFor({ timeout: 60_000 });
}

/**
 * Starts a deploy of `image` (its option text) from the machine page, optionally saving the disk
 * first as `saveAs`, and watches the job section until the job ends; returns the states and
 * progress texts it showed, and the job's final state.
 */
async function deploy(page, machinePage, image, saveAs = '') {
  await open(page, machinePage);
  const jobs = page.locator('[data-testid=jobs]');
  const option = await jobs.locator('select[name=image_id] option', { hasText: image }).getAttribute('value');
  await jobs.locator('select[name=image_id]').selectOption(option);
  if (saveAs) await jobs.locator('[data-testid=deploy-form] input[name=save_as]').fill(saveAs);
  const current = jobs.locator('[data-testid=current-job]');
  const jobNumber = async () => /Job (\d+):/.exec(await current.textContent({ timeout: 100 }).catch(() => ''))?.[1];
  const previous = await jobNumber();
  const started = Date.now();
  await jobs.getByRole('button', { name: 'Deploy' }).click();
  const states = new Map();
  const progress = new Set();
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    // Until the new job shows, the section still shows the machine's last one.
    const shown = await jobNumber();
    const state = shown && shown !== previous ? await current.getAttribute('data-state', { timeout: 1000 }).catch(() => null) : null;
    if (state && !states.has(state)) {
      states.set(state, (Date.now() - started) / 1000);
      if (state === 'writing') await screenshot(page, `${image.replace(/\W+/g, '-')}-writing`);
    }
    const text = await jobs.locator('[data-testid=job-progress-text]').textContent({ timeout: 50 }).catch(() => null);
    if (text) progress.add(text);
    if (['booted', 'boot-unobserved', 'failed', 'cancelled'].includes(state) || Date.now() > deadline) {
      const failure = await jobs.locator('[data-testid=job-failure]').textContent({ timeout: 50 }).catch(() => '');
      const phases = await jobs.locator('[data-testid=job-phases]').textContent();
      console.log(`deploy of ${image}: seen ${JSON.stringify(Object.fromEntries(states))}; ${progress.size} progress texts`);
      return { state, states, progress, phases, failure, jobs };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a user reserves a VM under IPMI control, uploads a bootable image, deploys it from the browser and the VM boots it; a second deploy saves the disk first', { skip: missing ?? false, timeout: 20 * 60_000 }, async () => {
  // The admin: a user, the VM with its BMC, and the user's right to use it.
  const admin = await logIn('admin', ADMIN_PASSWORD);
  await call(admin, 'admin/create_user', { username: 'erin', display_name: 'Erin Tester', password: 'erin-password-1' });
  const machine = await call(admin, 'admin/create_machine', {
    'input[name]': 'vm-01', 'input[macs]': MAC, 'input[platform]': 'x86_64-bios',
    'input[bmc_kind]': 'ipmi', 'input[bmc_address]': lab.VMLAB_BMC, 'input[bmc_username]': 'admin',
    'input[bmc_password]': 'password', 'input[location]': 'namespace lab', 'input[tags]': 'qemu', 'input[description]': '',
    'input[state]': 'available',
  });
  await call(admin, 'admin/set_grant', { machine_id: String(machine.id), subject_kind: 'user', subject_name: 'erin', level: 'use' });
  await logOut(admin);

  // The user reserves it from now on, from its page.
  const page = await logIn('erin', 'erin-password-1');
  const machinePage = `/machines/${machine.id}`;
  await open(page, machinePage);
  const reserve = page.locator('[data-testid=reserve-form]');
  await reserve.locator('input[data-utc-for=start]').fill(utc(new Date()));
  await reserve.locator('input[data-utc-for=end]').fill(utc(new Date(Date.now() + 2 * 3600_000)));
  await reserve.locator('input[name=note]').fill('reimage test');
  await reserve.locator('button[type=submit]').click();
  await page.getByText('Reserved.').waitFor();

  // Uploads the first disk and deploys it.
  await upload(page, join(work, 'disk-1.img.zst'), 'vm-disk');
  const first = await deploy(page, machinePage, 'vm-disk v1');
  await screenshot(page, 'first-deploy-ended');
  assert.equal(first.state, 'booted', `the deploy ended ${first.state}: ${first.failure}\n${first.phases}\nconsole:\n${console_()}`);
  // Booted only once the VM's console showed the written system (the VM lab's BMC serves SOL).
  for (const phase of ['queued', 'powering', 'netbooting', 'enrolled', 'writing', 'verifying', 'rebooting', 'booting', 'booted']) {
    assert.match(first.phases, new RegExp(phase), `no ${phase} in the timeline`);
  }
  assert.ok(first.states.has('writing'), `writing never shown live; saw ${[...first.states.keys()]}`);
  assert.ok(first.progress.size >= 3, `fewer than three progress values: ${[...first.progress]}`);
  assert.match(first.phases, /powered on through the BMC/);
  // The VM runs what was written: the image's system prints its marker, then powers off.
  await waitFor(`no ${markers[0]} on the VM's console`, () => console_().includes(markers[0]), 180_000);
  await first.jobs.locator('[data-testid=disk-content]', { hasText: 'vm-disk v1' }).waitFor();
  await waitFor('the VM did not power off', () => !running(readOr(join(vmDir, 'qemu.pid')).trim()), 60_000);

  // The second deploy saves the disk first. What is on it now must become the saved image.
  const before = sha256(join(vmDir, 'disk.img'));
  await upload(page, join(work, 'disk-2.img.zst'), 'vm-disk');
  const second = await deploy(page, machinePage, 'vm-disk v2', 'vm-saved');
  await screenshot(page, 'second-deploy-ended');
  assert.equal(second.state, 'booted', `the deploy ended ${second.state}: ${second.failure}\n${second.phases}\nconsole:\n${console_()}`);
  assert.match(second.phases, /saving/);
  await waitFor(`no ${markers[1]} on the VM's console`, () => console_().includes(markers[1]), 180_000);
  assert.equal(sha256(join(work, 'disk-2.img')), createHash('sha256')
    .update(readFileSync(join(vmDir, 'disk.img')).subarray(0, readFileSync(join(work, 'disk-2.img')).length)).digest('hex'));

  await open(page, '/images');
  await page.locator('[data-testid=images] tr', { hasText: 'vm-saved' }).getByRole('link', { name: 'vm-saved' }).click();
  await page.locator('[data-testid=content-sha256]').waitFor();
  assert.equal((await page.locator('[data-testid=content-sha256]').textContent()).trim(), before,
    'the saved image is not the disk as it was before the second write');
  await screenshot(page, 'saved-image');
  await logOut(page);
});

test('before the end the holder is told and extends from the notice; when the reservation ends, baas resets the VM to its reset image as the system, and the machine is free again once it booted it', { skip: missing ?? false, timeout: 15 * 60_000 }, async () => {
  const count = (text, needle) => text.split(needle).length - 1;
  // The admin chooses the machine's reset image on its page: the first disk.
  const admin = await logIn('admin', ADMIN_PASSWORD);
  const machine = (await call(admin, 'dashboard', {})).machines.find((m) => m.name === 'vm-01');
  const machinePage = `/machines/${machine.id}`;
  await open(admin, machinePage);
  const form = admin.locator('[data-testid=reset-form]');
  const option = await form.locator('select[name=image_id] option', { hasText: 'vm-disk' }).filter({ hasText: 'v1' }).getAttribute('value');
  await form.locator('select[name=image_id]').selectOption(option);
  await form.getByRole('button', { name: 'Save' }).click();
  await admin.getByText('reset to vm-disk v1').waitFor();
  // A lead time of 118 minutes: the notice of erin's two-hour reservation falls due now.
  await call(admin, 'admin/set_notice_settings', {
    smtp_host: '', smtp_port: '25', smtp_security: 'starttls', smtp_username: '', smtp_password: '', sender: '', lead_minutes: '118',
  });
  const leadSet = Date.now();
  await logOut(admin);

  // Erin is told, extends from the notice's link, then gives the reservation back.
  const page = await logIn('erin', 'erin-password-1');
  const [reservation] = await call(page, 'my_reservations', {});
  let notice;
  while (!notice && Date.now() < leadSet + 30_000) {
    await new Promise((r) => setTimeout(r, 500));
    notice = (await call(page, 'notices', {})).find((n) => n.reservation_id === reservation.id);
  }
  assert.ok(notice, 'no notice before the end');
  const noticeAfter = ((Date.now() - leadSet) / 1000).toFixed(1);
  await open(page, notice.link);
  await page.getByRole('button', { name: '+ 30 minutes' }).click();
  await page.getByText('Extended.').waitFor();
  assert.equal((await call(page, 'reservation', { id: String(reservation.id) })).end_at, reservation.end_at + 1800);
  await screenshot(page, 'extended-from-notice');
  const before = count(console_(), markers[0]);
  const released = Date.now();
  await call(page, 'release', { id: String(reservation.id) });
  const seconds = () => ((Date.now() - released) / 1000).toFixed(1);

  // Within the wrap-up period the machine is resetting and cannot be booked.
  const timings = {};
  const deadline = Date.now() + 60_000;
  let state;
  while (Date.now() < deadline) {
    state = (await call(page, 'machine', { id: String(machine.id) })).machine.state;
    if (state === 'resetting') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(state, 'resetting', 'the machine did not start resetting after the reservation ended');
  timings.resetting = seconds();
  const refused = await page.evaluate(async ([id, start, end]) => {
    const res = await fetch('/api/reserve', { method: 'POST', body: new URLSearchParams({ machine_id: id, start, end, note: '' }) });
    return { status: res.status, body: await res.text() };
  }, [String(machine.id), utc(new Date(Date.now() + 60_000)), utc(new Date(Date.now() + 3600_000))]);
  assert.equal(refused.status, 409, refused.body);
  assert.match(refused.body, /resetting/);
  await open(page, machinePage);
  await page.locator('[data-testid=machine-state]', { hasText: 'resetting' }).waitFor();
  await screenshot(page, 'resetting');

  // The reset is a deploy job of the system: the VM writes the first image and boots it.
  await waitFor(`no ${markers[0]} on the VM's console after the reset`, () => count(console_(), markers[0]) > before, 10 * 60_000);
  timings.marker = seconds();
  const until = Date.now() + 120_000;
  while (Date.now() < until) {
    state = (await call(page, 'machine', { id: String(machine.id) })).machine.state;
    if (state !== 'resetting') break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  timings.available = seconds();
  assert.equal(state, 'available', `after the reset the machine is ${state}`);
  const jobs = (await call(page, 'jobs/panel', { machine_id: String(machine.id) })).recent;
  const reset = jobs.find((j) => j.image?.name === 'vm-disk' && j.image?.version === 1 && j.requested_by === null);
  assert.ok(reset, `no reset job among ${JSON.stringify(jobs.map((j) => [j.id, j.state, j.requested_by]))}`);
  assert.equal(reset.state, 'booted');
  const since = (at) => Math.round(at - reservation.start_at);
  console.log(`one reservation's life, seconds from its start: booked at ${since(reservation.created_at)}; `
    + `notice ${noticeAfter} s after its lead time came; extended by 30 min from the notice's link, then released at ${since(released / 1000)}; `
    + `resetting ${timings.resetting} s after the release, the reset image's marker on the console at ${timings.marker} s, available at ${timings.available} s`);
  await open(page, machinePage);
  await page.locator('[data-testid=machine-state]', { hasText: 'available' }).waitFor();
  await screenshot(page, 'reset-done');
  await logOut(page);
});
