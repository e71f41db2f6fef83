#!/usr/bin/env python3
"""Checks of the deployment kit that no ecosystem tool makes: that the pieces agree with the code.

    python3 deploy/check_kit.py kubernetes   # schemas (Kubernetes, KEDA) and the fleet's rules
    python3 deploy/check_kit.py systemd      # stop timeout and secret variables of the units
    python3 deploy/check_kit.py container    # the Containerfile against Package.swift
    python3 deploy/check_kit.py metrics [--scraped FILE …] [--promql-out FILE]
                                             # dashboard and alert queries name exported metrics

Each prints one line per finding and `<name>: N passed, N failed`; exit 1 on any failure. The
facts come from the sources, not from copies: the fleet's workers from
Core/WorkerRuntime/FleetCatalog.swift, the shutdown timeout from WorkerConfiguration.swift, the
secret variables from Core/WorkerApp/SecretFiles.swift, the metric names from every
swift-metrics call under Core/ and Workers/.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

# The RabbitMQ metrics the rules and the dashboard read: the rabbitmq_prometheus plugin's
# per-object queue metrics, and kube-state-metrics' container readiness (Kubernetes only).
EXTERNAL_METRICS = {
    "rabbitmq_queue_messages_ready": "RabbitMQ rabbitmq_prometheus (/metrics/per-object)",
    "rabbitmq_queue_consumers": "RabbitMQ rabbitmq_prometheus (/metrics/per-object)",
    "kube_pod_container_status_ready": "kube-state-metrics",
    "up": "Prometheus (scrape health)",
}


class Report:
    def __init__(self, name):
        self.name, self.passed, self.failed = name, 0, 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"  ✗ {what}")
        return ok

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def fleet_workers():
    text = (ROOT / "Core/WorkerRuntime/FleetCatalog.swift").read_text()
    names = re.findall(r'name: "([a-z-]+)", queue: "([a-z-]+)"', text)
    if not names:
        sys.exit("check_kit: no worker found in Core/WorkerRuntime/FleetCatalog.swift (name: …, queue: …)")
    return dict(names)


def shutdown_timeout_seconds():
    text = (ROOT / "Core/WorkerRuntime/WorkerConfiguration.swift").read_text()
    match = re.search(r'"shutdown\.timeoutMs",\s*([0-9_]+)', text)
    if not match:
        sys.exit("check_kit: shutdown.timeoutMs's default not found in WorkerConfiguration.swift")
    return int(match.group(1).replace("_", "")) / 1000


def secret_variables():
    """The `<VARIABLE>_FILE` names the workers and the gateway accept (SecretFiles.secretKeys)."""
    text = (ROOT / "Core/WorkerApp/SecretFiles.swift").read_text()
    keys = re.search(r"secretKeys = \[([^\]]*)\]", text)
    if not keys:
        sys.exit("check_kit: SecretFiles.secretKeys not found in Core/WorkerApp/SecretFiles.swift")

    def variable(key):
        return "".join("_" if c == "." else ("_" + c if c.isupper() else c.upper()) for c in key)

    return {variable(k) + "_FILE" for k in re.findall(r'"([^"]+)"', keys.group(1))}


def load_yaml_documents(path):
    import yaml

    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


# Kubernetes ---------------------------------------------------------------------------------

KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"]


def check_kubernetes():
    import jsonschema
    import kubernetes_validate

    report = Report("kubernetes")
    schemas = {}
    for file in sorted((DEPLOY / "schemas/keda").glob("*.json")):
        schema = json.loads(file.read_text())
        schemas[(schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"])] = schema
    documents = []
    for file in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in load_yaml_documents(file):
            documents.append((file.name, doc))
            label = f"{file.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key[0] and key[0].startswith("keda.sh/"):
                schema = schemas.get(key)
                if not report.check(schema is not None, f"{label}: no vendored schema for {key[0]} {key[1]}"):
                    continue
                errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=str)
                report.check(
                    not errors,
                    f"{label}: KEDA schema: " + "; ".join(
                        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]))
                continue
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                    report.check(True, label)
                except kubernetes_validate.ValidationError as error:
                    report.check(False, f"{label}: Kubernetes {version}: {error.message} at {list(error.path)}")
                except Exception as error:  # a kind without a schema, a malformed document
                    report.check(False, f"{label}: Kubernetes {version}: {error}")

    by_kind = {}
    for _, doc in documents:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    config = by_kind.get("ConfigMap", {}).get("commerce-common", {}).get("data", {})
    grace_floor = shutdown_timeout_seconds()
    secret_names = secret_variables()
    for worker, queue in fleet_workers().items():
        deployment = by_kind.get("Deployment", {}).get(worker)
        if not report.check(deployment is not None, f"no Deployment for {worker}"):
            continue
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = dict(config)
        env.update({e["name"]: e.get("value") for e in container.get("env", [])})
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        report.check(container.get("command") == [worker], f"{worker}: command is not [{worker!r}]")
        report.check(env.get("QUEUE_NAME") == queue, f"{worker}: QUEUE_NAME is not {queue}")
        report.check(
            str(ports.get("http")) == str(env.get("HTTP_PORT")),
            f"{worker}: port 'http' ({ports.get('http')}) is not HTTP_PORT ({env.get('HTTP_PORT')})")
        report.check(env.get("HTTP_HOST") in ("0.0.0.0", "::"), f"{worker}: HTTP_HOST must be every interface for the probes")
        for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
            get = container.get(probe, {}).get("httpGet", {})
            report.check(
                get.get("path") == path and get.get("port") == "http",
                f"{worker}: {probe} is not GET {path} on port http")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        report.check(
            grace > grace_floor,
            f"{worker}: terminationGracePeriodSeconds {grace} is not above shutdown.timeoutMs ({grace_floor:g} s)")
        files = {k for k in env if k.endswith("_FILE") and k not in ("PRICING_FILE", "COUPONS_FILE")}
        report.check(files <= secret_names, f"{worker}: {sorted(files - secret_names)} are no secret variables of SecretFiles")
        report.check("AMQP_URL_FILE" in files and "DATABASE_URL_FILE" in files, f"{worker}: AMQP_URL_FILE and DATABASE_URL_FILE must be set")
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        report.check(
            all(str(Path(env[f]).parent) in mounts for f in files),
            f"{worker}: a *_FILE names a path outside its mounted Secret")
        security = container.get("securityContext", {})
        report.check(
            pod.get("securityContext", {}).get("runAsNonRoot") is True
            and security.get("allowPrivilegeEscalation") is False
            and security.get("readOnlyRootFilesystem") is True
            and security.get("capabilities", {}).get("drop") == ["ALL"],
            f"{worker}: not non-root, read-only, without privilege escalation and capabilities")
        requests = container.get("resources", {}).get("requests", {})
        report.check("cpu" in requests and "memory" in requests, f"{worker}: no cpu and memory requests")
        scaled = [
            so for so in by_kind.get("ScaledObject", {}).values() if so["spec"]["scaleTargetRef"]["name"] == worker]
        if report.check(len(scaled) == 1, f"{worker}: {len(scaled)} ScaledObjects target it, not 1"):
            spec = scaled[0]["spec"]
            triggers = spec["triggers"]
            report.check(
                len(triggers) == 1 and triggers[0]["type"] == "rabbitmq"
                and triggers[0]["metadata"].get("queueName") == queue
                and triggers[0]["metadata"].get("mode") == "QueueLength",
                f"{worker}: its ScaledObject does not scale on the queue length of {queue}")
            auth = triggers[0].get("authenticationRef", {}).get("name")
            report.check(auth in by_kind.get("TriggerAuthentication", {}), f"{worker}: TriggerAuthentication {auth} missing")
            report.check(spec.get("minReplicaCount", 0) >= 1, f"{worker}: minReplicaCount below 1 would stop its outbox relay")
    return report.finish()


# systemd ------------------------------------------------------------------------------------


def unit_settings(path):
    settings = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def seconds(value):
    match = re.fullmatch(r"(\d+)\s*(s|sec|min|m)?", value)
    if not match:
        return None
    return int(match.group(1)) * (60 if match.group(2) in ("min", "m") else 1)


def check_systemd():
    report = Report("systemd")
    floor = shutdown_timeout_seconds()
    secret_names = secret_variables()
    units = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.d/*.conf"))
    report.check(len(units) >= 3, "expected the worker template, its payment-worker drop-in and the gateway unit")
    for unit in units:
        settings = unit_settings(unit)
        name = unit.relative_to(DEPLOY / "systemd")
        environment = " ".join(settings.get("Environment", []))
        files = set(re.findall(r"([A-Z_]+_FILE)=", environment))
        report.check(files <= secret_names, f"{name}: {sorted(files - secret_names)} are no secret variables of SecretFiles")
        credentials = {c.split(":", 1)[0] for c in settings.get("LoadCredential", [])}
        used = set(re.findall(r"%d/([a-z-]+)", environment))
        report.check(used == credentials, f"{name}: credentials loaded {sorted(credentials)} but used {sorted(used)}")
        if unit.suffix != ".service":
            continue
        stop = seconds(settings.get("TimeoutStopSec", ["90s"])[-1])
        report.check(stop is not None and stop > floor, f"{name}: TimeoutStopSec is not above shutdown.timeoutMs ({floor:g} s)")
        report.check(settings.get("Restart") == ["on-failure"], f"{name}: Restart is not on-failure")
        for key, value in (("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                           ("ProtectHome", "yes"), ("PrivateTmp", "yes")):
            report.check(settings.get(key) == [value], f"{name}: {key} is not {value}")
        report.check("RestrictAddressFamilies" in settings and "SystemCallFilter" in settings,
                     f"{name}: no RestrictAddressFamilies or SystemCallFilter")
    return report.finish()


# Container ----------------------------------------------------------------------------------


def check_container():
    report = Report("container")
    text = (DEPLOY / "container/Containerfile").read_text()
    package = (ROOT / "Package.swift").read_text()
    executables = set(re.findall(r'\.executableTarget\(\s*name:\s*"([^"]+)"', package))
    listed = re.search(r"for name in ([^;]+);", text)
    installed = set(listed.group(1).split()) if listed else set()
    report.check(installed == executables,
                 f"the image installs {sorted(installed)}, Package.swift has {sorted(executables)}")
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    report.check(len(stages) >= 2, "not a multi-stage build")
    runtime = text.split("AS runtime", 1)[1] if "AS runtime" in text else ""
    report.check(bool(runtime), "no stage named runtime")
    packages = set()
    for install in re.findall(r"apt-get install ([^&\\\n]+)", runtime):
        packages |= {p for p in install.split() if not p.startswith("-")}
    report.check(packages == {"librabbitmq4", "libpq5", "libmongoc-1.0-0", "ca-certificates"},
                 f"runtime packages {sorted(packages)} are not the three client libraries and the CA bundle")
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    report.check(bool(user) and not user[-1].startswith(("0", "root")), "the runtime stage does not run as an unprivileged user")
    report.check("ENTRYPOINT" not in runtime, "an ENTRYPOINT would stop the command from choosing the executable")
    report.check("--static-swift-stdlib" in text, "the build does not link the Swift runtime statically")
    for copied in re.findall(r"^COPY\s+(?!--from)(.+)\s+\S+$", runtime, re.M):
        for source in copied.split():
            report.check((ROOT / source).exists(), f"COPY names {source}, which does not exist")
    return report.finish()


# Metrics ------------------------------------------------------------------------------------


def exported_metrics():
    """Every metric name a swift-metrics call under Core/ and Workers/ creates, with the series
    Prometheus sees: Timers and aggregated Recorders are histograms (_bucket, _sum, _count)."""
    names = set()
    pattern = re.compile(r'\b(Counter|Gauge|Timer|Recorder)\(\s*label:\s*"([a-z_]+)"([^)]*)', re.S)
    for source in list((ROOT / "Core").rglob("*.swift")) + list((ROOT / "Workers").rglob("*.swift")):
        text = source.read_text()
        for kind, name, rest in pattern.findall(text):
            if kind == "Timer" or (kind == "Recorder" and "aggregate: true" in rest):
                names |= {name + "_bucket", name + "_sum", name + "_count"}
            else:
                names.add(name)
        # WorkerMetrics' per-type counters: counter("commerce_…_total", type: …)
        names |= set(re.findall(r'\bcounter\("([a-z_]+_total)"', text))
    return names


# The runtime's metrics, which every worker (the probe-worker too) exports.
RUNTIME_PREFIXES = ("commerce_worker_", "commerce_batch", "commerce_message", "commerce_outbox")

PROMQL_WORDS = {
    "sum", "by", "without", "rate", "increase", "irate", "delta", "deriv", "histogram_quantile", "max", "min",
    "avg", "count", "absent", "and", "or", "unless", "on", "ignoring", "group_left", "group_right",
    "min_over_time", "max_over_time", "avg_over_time", "label_replace", "topk", "bool", "offset", "le", "time",
}


def metric_names(expr):
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return {w for w in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr) if w not in PROMQL_WORDS and not w.isdigit()}


def github_anchor(heading):
    """The fragment GitHub gives a Markdown heading: lower case, punctuation dropped, spaces as -."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def check_metrics(argv):
    import yaml

    report = Report("metrics")
    exported = exported_metrics()
    report.check(len(exported) > 10, f"only {len(exported)} metric names found in the sources")
    queries = []
    dashboard = json.loads((DEPLOY / "grafana/commerce-fleet.json").read_text())
    for key in ("title", "uid", "panels", "schemaVersion"):
        report.check(key in dashboard, f"dashboard: no {key}")
    ids = [panel.get("id") for panel in dashboard.get("panels", [])]
    report.check(len(ids) == len(set(ids)), "dashboard: panel ids repeat")
    for panel in dashboard.get("panels", []):
        title = panel.get("title", f"panel {panel.get('id')}")
        report.check({"type", "title", "gridPos", "targets", "datasource"} <= panel.keys(), f"dashboard: {title}: missing keys")
        for target in panel.get("targets", []):
            report.check(bool(target.get("expr")) and bool(target.get("refId")), f"dashboard: {title}: a target without expr or refId")
            queries.append((f"dashboard: {title}", target.get("expr", "")))
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", (ROOT / "docs/operations.md").read_text(), re.M)}
    for group in yaml.safe_load((DEPLOY / "prometheus/commerce-alerts.yml").read_text())["groups"]:
        for rule in group["rules"]:
            queries.append((f"alert {rule['alert']}", rule["expr"]))
            runbook = rule.get("annotations", {}).get("runbook_url", "")
            report.check(
                runbook.startswith("docs/operations.md#") and runbook.split("#", 1)[1] in anchors,
                f"alert {rule['alert']}: runbook_url {runbook!r} is no section of docs/operations.md")
    for label, expr in queries:
        for name in sorted(metric_names(expr)):
            report.check(name in exported or name in EXTERNAL_METRICS,
                         f"{label}: {name} is exported by no worker and is no known RabbitMQ/Kubernetes metric")
    # Series scraped from running processes: every commerce_ name the sources declare as the
    # runtime's must be there (a renamed metric would leave the dashboard empty).
    scraped_files = [argv[i + 1] for i, a in enumerate(argv) if a == "--scraped"]
    for file in scraped_files:
        seen = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", Path(file).read_text(), re.M))
        runtime = {n for n in exported if n.startswith("commerce_") and n in seen}
        report.check(bool(runtime), f"{file}: no commerce_ series scraped")
        for name in sorted(n for n in seen if n.startswith("commerce_")):
            report.check(name in exported, f"{file}: scraped {name}, which check_kit does not know from the sources")
        used = {n for _, expr in queries for n in metric_names(expr)}
        # Counters appear at their first increment; gauges and histograms from the start.
        for name in sorted(n for n in used & exported if n.startswith(RUNTIME_PREFIXES) and not n.endswith("_total")):
            report.check(name in seen, f"{file}: the queries read {name}, which a running worker does not export")
    # The queries as recording rules, for `promtool check rules` to parse (Grafana's $__ variables
    # replaced by durations).
    if "--promql-out" in argv:
        out = Path(argv[argv.index("--promql-out") + 1])
        rules = [{"record": f"commerce:dashboard_query:{i}",
                  "expr": expr.replace("$__rate_interval", "5m").replace("$__range", "1h")}
                 for i, (label, expr) in enumerate(queries) if label.startswith("dashboard")]
        out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    return report.finish()


def main(argv):
    commands = {"kubernetes": check_kubernetes, "systemd": check_systemd, "container": check_container}
    if len(argv) < 2 or argv[1] not in list(commands) + ["metrics"]:
        sys.exit(f"usage: check_kit.py {{{'|'.join(list(commands) + ['metrics'])}}} …")
    return check_metrics(argv[2:]) if argv[1] == "metrics" else commands[argv[1]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
