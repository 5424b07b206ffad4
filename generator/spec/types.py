"""The resolved spec of one environment, as types: generated from rollouts.schema.json, do not edit.

Regenerate with `python scripts/spec_types.py` (tests/lint/test_spec_types.py fails when this file is stale).
A key is required when the schema gives it a default (resolve fills it in, always) or lists it as required (present
once lint is clean: a spec that fails the schema, or a section only an environment sets, which
environment-override-incomplete reports, may lack it). Imported only under ``TYPE_CHECKING``: no lint start-up cost.
"""

from typing import Any, Literal, NotRequired, TypedDict


class Metadata(TypedDict):
    """Who and where."""

    name: str
    namespace: str
    owner: str


class Chart(TypedDict):
    """The Helm chart of the workload."""

    repository: str
    name: NotRequired[str]
    version: str
    tests: NotRequired[list[str]]


class Image(TypedDict):
    """The container image, passed to the chart as values.image.repository and values.image.tag."""

    repository: str
    tag: str


class Autoscaling(TypedDict):
    """A HorizontalPodAutoscaler (autoscaling/v2). When set, the HelmRelease sets no replica count."""

    minReplicas: int  # default 2
    maxReplicas: int
    targetCPU: int  # default 70


class DisruptionBudget(TypedDict):
    """The PodDisruptionBudget."""

    maxUnavailable: int  # default 1


class Workload(TypedDict):
    """The application: a Helm chart that Flux installs with a HelmRelease, and how it scales."""

    chart: NotRequired[Chart]
    image: NotRequired[Image]
    values: NotRequired[dict[str, Any]]
    port: int  # default 8080
    portName: str  # default "http"
    replicas: int  # default 2
    autoscaling: NotRequired[Autoscaling]
    disruptionBudget: DisruptionBudget  # default {}
    steadyTraffic: bool  # default false


class StringMatch(TypedDict):
    """How a value is matched. Exactly one of exact or regex."""

    exact: NotRequired[str]
    regex: NotRequired[str]


class Cookie(TypedDict):
    """Match a cookie by exact value (rendered as a regular expression on the cookie header)."""

    name: str
    value: str


class Match(TypedDict):
    """One match: all of its conditions must hold."""

    headers: NotRequired[dict[str, StringMatch]]
    cookie: NotRequired[Cookie]
    queryParams: NotRequired[dict[str, StringMatch]]


class SessionAffinity(TypedDict):
    """Sticky canary sessions via a cookie (not supported by Linkerd)."""

    cookieName: str
    maxAge: NotRequired[int]


class Strategy(TypedDict):
    """How a new version is released: canary weights, A/B routing or blue/green with Flagger, or Flux alone
    (fluxRollback: the chart's Helm tests after each upgrade, a rollback when the upgrade or a test fails)."""

    type: Literal["canary", "abTest", "blueGreen", "fluxRollback"]
    steps: NotRequired[list[int]]
    stepWeight: NotRequired[int]
    maxWeight: NotRequired[int]
    interval: str  # default "1m"
    threshold: int  # default 2
    iterations: NotRequired[int]
    match: NotRequired[list[Match]]
    progressDeadline: str  # default "10m"
    provider: Literal["gatewayapi:v1beta1", "gatewayapi:v1", "linkerd", "kubernetes"]  # default "gatewayapi:v1beta1"
    mirror: bool  # default false
    sessionAffinity: NotRequired[SessionAffinity]
    skipAnalysis: bool  # default false
    timeout: NotRequired[str]
    retries: int  # default 0
    releaseTimeout: str  # default "2m"


class SLO(TypedDict):
    """Service level objectives checked at every interval, on Linkerd proxy metrics."""

    successRate: float  # default 99
    latencyP99: NotRequired[str]
    latencyP95: NotRequired[str]
    interval: str  # default "1m"


class LoadTest(TypedDict):
    """Generate traffic to the canary at every interval, so the metrics have data."""

    rps: int  # default 10
    concurrency: int  # default 2
    path: str  # default "/"
    timeout: str  # default "5s"


class AcceptanceTest(TypedDict):
    """A blocking command run before traffic is shifted (pre-rollout)."""

    cmd: str
    timeout: str  # default "30s"


class HelmTest(TypedDict):
    """Run the chart's helm tests against the canary before traffic is shifted."""

    timeout: str  # default "3m"
    grantRBAC: bool  # default true


class ManualApproval(TypedDict):
    """Hold the rollout until a person opens the gate on the load tester (POST /gate/open with {"name": <service>,
    "namespace": <namespace>})."""

    beforeRollout: bool  # default false
    beforePromotion: bool  # default false
    runbook: NotRequired[str]
    closeAfterRollout: bool  # default true


class Gates(TypedDict):
    """Tests and approvals that gate the rollout, run by the flagger-loadtester or a person."""

    loadTest: NotRequired[LoadTest]
    acceptanceTest: NotRequired[AcceptanceTest]
    helmTest: NotRequired[HelmTest]
    manualApproval: NotRequired[ManualApproval]


class Gateway(TypedDict):
    """The Gateway listed in the Canary's service.gatewayRefs. Its listener must allow routes from the service
    namespace."""

    name: str
    namespace: str
    sectionName: NotRequired[str]
    networks: NotRequired[list[str]]


class Ingress(TypedDict):
    """North-south traffic: the Gateway becomes a parent of the HTTPRoute Flagger manages, so the Gateway itself splits
    public traffic between primary and canary."""

    hosts: list[str]
    gateway: Gateway
    meshedGateway: bool


class SecretKeyRef(TypedDict):
    """A key of a Secret in flagger-system, mounted into the analysis controller; the value never appears in the spec
    or the rendered tree."""

    name: str
    key: str


class FlowStep(TypedDict):
    """One request and what it must return."""

    name: NotRequired[str]
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # default "GET"
    path: str
    headers: NotRequired[dict[str, str]]
    body: NotRequired[str]
    expectStatus: int  # default 200
    latencyBudget: str  # default "1s"
    bodyMatch: NotRequired[str]
    headersFromSecrets: NotRequired[dict[str, SecretKeyRef]]
    capture: NotRequired[dict[str, str]]


class Flow(TypedDict):
    """A synthetic user flow."""

    name: str
    steps: list[FlowStep]


class Probes(TypedDict):
    """Synthetic HTTP flows that the analysis controller runs against the canary during the rollout."""

    baseURL: NotRequired[str]
    flows: NotRequired[list[Flow]]


class ChangeWindow(TypedDict):
    """A weekly window."""

    days: list[Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]]
    start: str
    end: str
    timeZone: str  # default "UTC"


class ErrorBudget(TypedDict):
    """Promotion is held when the error budget is spent."""

    objective: float
    window: str  # default "30d"
    minRemaining: float  # default 0


class Freeze(TypedDict):
    """A period in which no rollout starts."""

    start: str
    end: str
    reason: str


class Approval(TypedDict):
    """Promotion waits for `rollouts approve SERVICE --env ENV`, recorded by the analysis controller for the one
    revision (checksum) approved; unlike gates.manualApproval (the load tester's gate, open to anyone who can reach
    it), the approval is attributed and consumed by its revision."""

    required: bool  # default false


class Policy(TypedDict):
    """Rules the release must follow."""

    changeWindows: NotRequired[list[ChangeWindow]]
    errorBudget: NotRequired[ErrorBudget]
    allowedRegistries: NotRequired[list[str]]
    maxRollbackTime: str  # default "5m"
    maxRolloutTime: NotRequired[str]
    freezes: NotRequired[list[Freeze]]
    approval: NotRequired[Approval]


class Metric(TypedDict):
    """A custom PromQL check, rendered as a MetricTemplate."""

    name: str
    query: str
    min: NotRequired[float]
    max: NotRequired[float]
    interval: str  # default "1m"
    variables: NotRequired[dict[str, str]]
    address: NotRequired[str]


class Alert(TypedDict):
    """A notification channel for rollout events, rendered as a Flagger AlertProvider."""

    name: str
    type: Literal["slack", "msteams", "discord", "rocket", "gchat"]
    channel: NotRequired[str]
    secretRef: str
    severity: Literal["info", "warn", "error"]  # default "info"


class JudgeMetric(TypedDict):
    """One metric the judge compares between canary and primary."""

    name: str
    query: str
    group: str  # default "default"
    weight: float  # default 1
    direction: Literal["increase", "decrease", "either"]  # default "either"
    critical: bool  # default false
    allowedChange: float  # default 0.1


class Judge(TypedDict):
    """The canary judge of the analysis controller: each metric on canary and primary over the window, scored 0-100
    (confirm-promotion)."""

    window: str  # default "5m"
    minRequests: int  # default 50
    passScore: float  # default 80
    marginalScore: float  # default 60
    noData: Literal["pass", "fail", "hold"]  # default "hold"
    metrics: list[JudgeMetric]


class Notification(TypedDict):
    """A webhook the analysis controller notifies of promotions, aborts and holds, each body signed with HMAC-SHA256
    (X-Rollouts-Signature)."""

    name: str
    url: str
    events: list[Literal["promote", "abort", "hold"]]  # default ["promote", "abort", "hold"]
    secretRef: SecretKeyRef


class Spec(TypedDict):
    """The release."""

    workload: Workload
    strategy: Strategy
    slo: NotRequired[SLO]
    gates: NotRequired[Gates]
    ingress: NotRequired[Ingress]
    probes: NotRequired[Probes]
    policy: NotRequired[Policy]
    metrics: NotRequired[list[Metric]]
    alerts: NotRequired[list[Alert]]
    judge: NotRequired[Judge]
    notifications: NotRequired[list[Notification]]


class Resolved(TypedDict):
    """What ``spec.resolve.resolve`` returns: one environment's whole document."""

    metadata: Metadata
    environment: str
    spec: Spec
