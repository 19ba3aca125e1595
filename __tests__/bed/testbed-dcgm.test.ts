// The DCGM stand-in's exposition and control API, served on an ephemeral loopback port (no bed needed).
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyControl, initialState, render, serve } from '../../testbed/dcgm-exporter.js';

describe('DCGM exporter stand-in', () => {
  it('renders dcgm-exporter exposition: HELP/TYPE, label set and order, value formats', () => {
    const text = render(initialState(2, 'node-a'));
    const lines = text.trimEnd().split('\n');
    expect(lines).toContain('# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).');
    expect(lines).toContain('# TYPE DCGM_FI_DEV_POWER_USAGE gauge');
    expect(lines).toContain('# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter');
    const power = lines.filter((l) => l.startsWith('DCGM_FI_DEV_POWER_USAGE{'));
    expect(power).toHaveLength(2);
    expect(power[0]).toMatch(
      /^DCGM_FI_DEV_POWER_USAGE\{gpu="0",UUID="GPU-[0-9a-f-]{36}",pci_bus_id="00000000:[0-9A-F]{2}:00\.0",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-a",DCGM_FI_DRIVER_VERSION="[0-9.]+"\} 46\.250000$/,
    );
    expect(lines.find((l) => l.startsWith('DCGM_FI_DEV_GPU_UTIL{gpu="1"'))).toMatch(/\} 0$/);
    expect(lines.find((l) => l.startsWith('DCGM_FI_DEV_FB_FREE{gpu="0"'))).toMatch(/\} 81559$/);
    // every sample line belongs to the family announced just before it
    let family = '';
    for (const l of lines) {
      if (l.startsWith('# TYPE ')) family = l.split(' ')[2];
      else if (!l.startsWith('#')) expect(l.split('{')[0]).toBe(family);
    }
  });

  it('applies control requests to all GPUs or one, with pod attribution, and rejects bad values', () => {
    const s = initialState(2, 'n');
    expect(applyControl(s, { power: 300.5, util: 90, fbUsed: 40000 })).toBeUndefined();
    expect(s.gpus.map((g) => [g.power, g.util, g.fbUsed])).toEqual([
      [300.5, 90, 40000],
      [300.5, 90, 40000],
    ]);
    expect(applyControl(s, { gpu: 1, power: 100, namespace: 'ns', pod: 'p' })).toBeUndefined();
    const text = render(s);
    expect(text).toContain(
      'device="nvidia1",modelName="NVIDIA H100 80GB HBM3",Hostname="n",DCGM_FI_DRIVER_VERSION="550.127.08",container="",namespace="ns",pod="p"} 100.000000',
    );
    expect(text).toMatch(/DCGM_FI_DEV_FB_USED\{gpu="0",[^}]*\} 40000\n/);
    expect(applyControl(s, { util: 101 })).toMatch(/util/);
    expect(applyControl(s, { power: -1 })).toMatch(/power/);
    expect(applyControl(s, { gpu: 7, power: 1 })).toMatch(/no gpu 7/);
  });

  describe('over HTTP', () => {
    let server: ReturnType<typeof serve>;
    let url: string;
    beforeAll(async () => {
      server = serve(initialState(1, 'h'), 0);
      await new Promise((r) => server.once('listening', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it('serves /metrics and changes readings on PUT /control', async () => {
      const before = await (await fetch(`${url}/metrics`)).text();
      expect(before).toMatch(/DCGM_FI_DEV_POWER_USAGE\{[^}]*\} 46\.250000/);
      const put = await fetch(`${url}/control`, { method: 'PUT', body: JSON.stringify({ power: 250, util: 75 }) });
      expect(put.status).toBe(200);
      const after = await (await fetch(`${url}/metrics`)).text();
      expect(after).toMatch(/DCGM_FI_DEV_POWER_USAGE\{[^}]*\} 250\.000000/);
      expect(after).toMatch(/DCGM_FI_DEV_GPU_UTIL\{[^}]*\} 75\n/);
      expect((await fetch(`${url}/control`, { method: 'PUT', body: '{' })).status).toBe(400);
    });
  });
});
