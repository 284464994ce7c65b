import assert from "node:assert/strict";
import { describeResolver } from "../lib/net/resolver_info.ts";

async function withFiles(
  files: { nsswitch?: string; hosts?: string; resolv?: string },
  fn: (paths: { nsswitchPath: string; hostsPath: string; resolvPath: string }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const paths = {
      nsswitchPath: `${dir}/nsswitch.conf`,
      hostsPath: `${dir}/hosts`,
      resolvPath: `${dir}/resolv.conf`,
    };
    if (files.nsswitch !== undefined) await Deno.writeTextFile(paths.nsswitchPath, files.nsswitch);
    if (files.hosts !== undefined) await Deno.writeTextFile(paths.hostsPath, files.hosts);
    if (files.resolv !== undefined) await Deno.writeTextFile(paths.resolvPath, files.resolv);
    await fn(paths);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("describeResolver() names /etc/hosts when it lists the name", async () => {
  await withFiles({
    nsswitch: "# c\nhosts:   files [NOTFOUND=return] dns\n",
    hosts: "127.0.0.1 localhost db # comment\n",
  }, async (paths) => {
    const info = await describeResolver("DB", paths);
    assert.deepEqual(info.sources, ["files", "dns"]);
    assert.equal(info.inHostsFile, true);
    assert.match(info.text, /nsswitch "hosts: files dns"\): \/etc\/hosts lists it$/);
  });
});

Deno.test("describeResolver() names the nameservers when DNS answers", async () => {
  await withFiles({
    nsswitch: "hosts: files dns\n",
    hosts: "127.0.0.1 localhost\n",
    resolv: "nameserver 10.0.0.2\nnameserver ::1\n",
  }, async (paths) => {
    const info = await describeResolver("example.org", paths);
    assert.match(info.text, /not in \/etc\/hosts, so DNS \(nameserver 10\.0\.0\.2, ::1\)$/);
  });
});

Deno.test("describeResolver() without nsswitch.conf assumes glibc's default and never throws", async () => {
  await withFiles({}, async (paths) => {
    const info = await describeResolver("x", paths);
    assert.deepEqual(info.sources, ["dns", "files"]);
    assert.match(info.text, /no nameserver in \/etc\/resolv\.conf/);
  });
});

Deno.test("describeResolver() with DNS only, or neither files nor DNS, says so", async () => {
  await withFiles({
    nsswitch: "hosts: dns\n",
    hosts: "127.0.0.1 db\n",
    resolv: "nameserver 10.0.0.2\n",
  }, async (paths) => {
    // /etc/hosts lists it, but nsswitch does not read the file.
    const info = await describeResolver("db", paths);
    assert.equal(info.where, "DNS (nameserver 10.0.0.2)");
  });
  await withFiles({ nsswitch: "hosts: mdns4_minimal myhostname\n" }, async (paths) => {
    const info = await describeResolver("db", paths);
    assert.deepEqual(info.sources, ["mdns4_minimal", "myhostname"]);
    assert.equal(info.where, "no files, no DNS");
  });
});

Deno.test("describeResolver() says when /etc/hosts lists the name only in the other family", async () => {
  await withFiles({
    nsswitch: "hosts: files dns\n",
    hosts: "127.0.0.1 db\n::1 both\n127.0.0.2 both\n",
  }, async (paths) => {
    const v6 = await describeResolver("db", { ...paths, family: 6 });
    assert.match(
      v6.where,
      /^\/etc\/hosts lists it only with IPv4 addresses, and -6 asks for IPv6$/,
    );
    const v4 = await describeResolver("db", { ...paths, family: 4 });
    assert.equal(v4.where, "/etc/hosts lists it");
    const both = await describeResolver("both", { ...paths, family: 6 });
    assert.equal(both.where, "/etc/hosts lists it");
  });
});
