// Before any test: the data-plane programs and modules the tests run must be installed. A missing one fails the
// run at once, naming the Debian package to install, instead of a daemon test timing out much later.
import { existsSync } from "node:fs";

export interface Requirement {
  readonly path: string;
  /** The Debian package that installs it (`dpkg -S <path>` on Debian 12); each is in ./dev's DEBIAN_PACKAGES. */
  readonly debianPackage: string;
  readonly why: string;
}

const plugin = (name: string, debianPackage: string, why: string): Requirement =>
  ({ path: `/usr/lib/ipsec/plugins/libstrongswan-${name}.so`, debianPackage, why: `charon's ${name} plugin: ${why}` });

export const DATA_PLANE_REQUIREMENTS: readonly Requirement[] = [
  { path: "/usr/sbin/haproxy", debianPackage: "haproxy", why: "haproxy -c and the HAProxy traffic tests" },
  { path: "/usr/sbin/nginx", debianPackage: "nginx", why: "nginx -t and the NGINX traffic tests" },
  { path: "/usr/lib/nginx/modules/ngx_stream_module.so", debianPackage: "libnginx-mod-stream", why: "NGINX's stream module (TLS passthrough)" },
  { path: "/usr/sbin/squid", debianPackage: "squid", why: "squid -k parse and the Squid traffic tests" },
  { path: "/usr/sbin/charon-systemd", debianPackage: "charon-systemd", why: "the IKE daemon the swanctl checks load into" },
  { path: "/usr/sbin/swanctl", debianPackage: "strongswan-swanctl", why: "swanctl --load-all" },
  plugin("vici", "strongswan-swanctl", "swanctl talks to charon through it"),
  plugin("socket-default", "charon-systemd", "IKE sockets (its dependency strongswan-libcharon)"),
  plugin("aes", "charon-systemd", "AES-CBC (its dependency libstrongswan)"),
  plugin("sha2", "charon-systemd", "SHA-256/384/512 (its dependency libstrongswan)"),
  plugin("hmac", "charon-systemd", "HMAC integrity (its dependency libstrongswan)"),
  plugin("kdf", "charon-systemd", "key derivation (its dependency libstrongswan)"),
  plugin("openssl", "libstrongswan-standard-plugins", "ECP/MODP DH groups, AES-CTR/CCM"),
  plugin("gcm", "libstrongswan-standard-plugins", "AES-GCM"),
  plugin("kernel-libipsec", "libcharon-extra-plugins", "userspace ESP on kernels without xfrm ESP"),
  { path: "/usr/sbin/iptables-restore", debianPackage: "iptables", why: "iptables-restore --test and the port-forward tests" },
  { path: "/usr/sbin/ip", debianPackage: "iproute2", why: "the network namespaces the tests create" },
];

/** The requirements not met, grouped by package: one line a package, or nothing. */
export function missingPackages(exists: (path: string) => boolean = existsSync): string[] {
  const missing = new Map<string, string[]>();
  for (const requirement of DATA_PLANE_REQUIREMENTS) {
    if (exists(requirement.path)) continue;
    missing.set(requirement.debianPackage, [...(missing.get(requirement.debianPackage) ?? []), `${requirement.path} (${requirement.why})`]);
  }
  return [...missing].map(([debianPackage, paths]) => `${debianPackage}: ${paths.join("; ")}`);
}

/** vitest globalSetup. */
export default function preflight(): void {
  const missing = missingPackages();
  if (missing.length === 0) return;
  throw new Error(
    `the data-plane tests need Debian packages that are not installed:\n  ${missing.join("\n  ")}\n` +
      `install them with ./dev (its DEBIAN_PACKAGES lists every one) or: apt-get install ${missing.map((m) => m.split(":")[0]).join(" ")}`,
  );
}
