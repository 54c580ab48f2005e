import assert from "node:assert/strict";
import { test } from "node:test";
import { cgroupCpuLimit, defaultWorkers, usableCores } from "./default-workers.js";

test("the default worker count leaves a core spare, and never goes below one", { timeout: 10_000 }, () => {
  const cases: [cores: number, want: number][] = [
    [1, 1],
    [2, 1],
    [3, 2],
    [4, 3],
    [16, 15],
    [1000, 256],
  ];
  for (const [cores, want] of cases) assert.equal(defaultWorkers(cores), want, `${cores} cores`);
});

test("usable cores are capped by the cgroup's CPU limit, rounded up", { timeout: 10_000 }, () => {
  const cases: [cores: number, limit: number | undefined, want: number][] = [
    [64, undefined, 64],
    [64, 2, 2],
    [64, 2.5, 3],
    [64, 0.5, 1],
    [4, 8, 4],
  ];
  for (const [cores, limit, want] of cases)
    assert.equal(usableCores(cores, limit), want, `${cores}, ${limit}`);
});

test("the CPU limit is read from cgroup v2's cpu.max, else v1's quota and period", {
  timeout: 10_000,
}, () => {
  const cases: { name: string; files: Record<string, string>; want: number | undefined }[] = [
    { name: "v2 limited", files: { "/sys/fs/cgroup/cpu.max": "200000 100000\n" }, want: 2 },
    { name: "v2 unlimited", files: { "/sys/fs/cgroup/cpu.max": "max 100000\n" }, want: undefined },
    {
      name: "v1 limited",
      files: {
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "150000\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
      },
      want: 1.5,
    },
    {
      name: "v1 unlimited",
      files: {
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
      },
      want: undefined,
    },
    { name: "no cgroup files", files: {}, want: undefined },
    { name: "unreadable content", files: { "/sys/fs/cgroup/cpu.max": "garbage" }, want: undefined },
  ];
  for (const c of cases)
    assert.equal(
      cgroupCpuLimit((p) => c.files[p]),
      c.want,
      c.name,
    );
});
