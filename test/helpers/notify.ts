// A stand-in for systemd's notify socket in tests: a python3 process that receives sd_notify
// datagrams (with the sender's credentials) and prints them; the caller kills it by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './net.js';

/**
 * A stand-in for a busy systemd: reads each datagram `delayMs` after the previous read, with the
 * sender's credentials (SO_PASSCRED), and says whether the sending process still existed when it
 * was read, which is what systemd needs to tell which unit a message belongs to. Fds passed with
 * a message (systemd-notify's BARRIER=1) are closed, as systemd does once it processed it.
 */
export function lateNotifyReceiver(address: string, delayMs: number): { proc: ChildProcess; ready: Promise<unknown>; messages: () => { lines: string[]; pid: number; uid: number; alive: boolean }[] } {
  const script = [
    'import socket, sys, json, time, os, struct',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)',
    's.bind(sys.argv[1])',
    'os.chmod(sys.argv[1], 0o666)',
    "print(json.dumps({'ready': True}), flush=True)",
    'while True:',
    '    time.sleep(float(sys.argv[2]) / 1000)',
    '    d, anc, fl, ad = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))',
    '    pid, uid = 0, -1',
    '    for lvl, typ, data in anc:',
    '        if typ == socket.SCM_CREDENTIALS: pid, uid, gid = struct.unpack("iII", data[:12])',
    '        if typ == socket.SCM_RIGHTS:',
    '            for i in range(0, len(data) - len(data) % 4, 4): os.close(struct.unpack("i", data[i:i+4])[0])',
    "    print(json.dumps({'m': d.decode(), 'pid': pid, 'uid': uid, 'alive': os.path.exists('/proc/%d' % pid)}), flush=True)",
  ].join('\n');
  const proc = spawn('python3', ['-c', script, address, String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const messages = () =>
    out.split('\n').filter((l) => l.startsWith('{"m"')).map((l) => {
      const j = JSON.parse(l) as { m: string; pid: number; uid: number; alive: boolean };
      return { lines: j.m.split('\n').filter(Boolean), pid: j.pid, uid: j.uid, alive: j.alive };
    });
  return { proc, ready: waitFor(() => out.includes('"ready"'), 'the python3 receiver'), messages };
}

