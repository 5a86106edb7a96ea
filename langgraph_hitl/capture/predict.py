"""Predictive escalation: a model of human overrides, trained on the ledger's own history.

`train()` fits a logistic regression (scikit-learn, the `predict` extra) on what
reviewers did before (`langgraph_hitl.deciding.feedback.training_examples`): label 1 when a
human rejected, modified or responded, or found a problem in an after-the-fact review.
The result, an `OverrideModel`, is plain JSON (feature names, coefficients, intercept,
scaling, metadata; no pickle) and scores a request in pure Python, so the router runs
in production without scikit-learn:

    model = OverrideModel.load("override-model.json")
    policy = ReviewPolicy(tiers=[...], predictor=model, threshold=0.7)

Features of a request (`request_features`): the action (one-hot), amount-like args
(`amount`, `total`, `value`, `price`, `cost`, `fee`, anywhere in the args, and the
largest number there), the confidence (and a flag when it is missing), the risk tier
(one-hot), the hour of day in UTC (on a circle), and the reasons it was escalated,
normalised to their first words without numbers or quoted names. An action, tier or
reason the model never saw in training counts as that group's `<other>`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from langgraph_hitl.capture.routers import as_number
from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.ledger.store.postgres import is_postgres
from langgraph_hitl.models import ApprovalRequest, canonical_json

if TYPE_CHECKING:
    from langgraph_hitl.ledger import ReviewLedger

MODEL_FILE = "override-model.json"
"""The model's file name: `train` saves it beside the database, where graphs look."""


def model_beside(db: str | Path) -> Path:
    """Where the model for the database at `db` lives by default.

    Example:
        >>> model_beside("/srv/hitl/hitl.sqlite").as_posix()
        '/srv/hitl/override-model.json'
    """
    if is_postgres(db):
        return Path.cwd() / MODEL_FILE  # a server's database: beside where it runs
    return Path(db).absolute().parent / MODEL_FILE


MODEL_FORMAT = "langgraph-hitl/override-model"
"""The `format` field every saved model carries."""

DEFAULT_THRESHOLD = 0.7
"""The score at or above which work escalates, as `ReviewPolicy` uses it by default."""

MIN_PER_CLASS = 10
"""`train` needs at least this many overrides and this many approvals."""

MIN_COUNT = 3
"""An action, tier or reason seen fewer times in training counts as `<other>`."""

OTHER = "<other>"

NUMERIC_FEATURES: tuple[str, ...] = (
    "confidence",
    "confidence_missing",
    "amount_log",
    "amount_missing",
    "largest_number_log",
    "hour_sin",
    "hour_cos",
    "reason_count",
)
"""Features every request has, in this order at the start of every model."""

CATEGORIES: tuple[str, ...] = ("action", "tier", "reason")
"""One-hot groups: a feature named `action=pay_invoice` is 1 for that action."""

AMOUNT_WORDS = frozenset({"amount", "total", "value", "price", "cost", "fee"})
"""Args whose key holds one of these words (`amount`, `unit_price`, `total_due`)."""

_MAX_DEPTH = 32
_PREDICTED = "predicted override"


def reason_key(reason: str) -> str:
    """A reason in a form that recurs: lowercased, first words, no numbers or quoted names.

    Text from the first `(` on is dropped, and so is anything quoted and any word with
    a digit in it, so the same rule firing on different invoices gives the same key.

    Example:
        >>> reason_key("validation: unknown vendor 'Hooli Partners'")
        'validation unknown vendor'
        >>> reason_key("amount 52,000.00 is over the 10,000.00 limit")
        'amount is over the'
        >>> reason_key("low confidence (0.42 < 0.50)")
        'low confidence'
    """
    text = reason.lower().split("(", 1)[0]
    text = re.sub(r"'[^']*'|\"[^\"]*\"", " ", text)
    words = [w for w in re.split(r"[\s:;,.!?]+", text) if re.fullmatch(r"[a-z][a-z_-]*", w)]
    return " ".join(words[:4])


def _numbers(args: Any) -> tuple[list[float], list[float]]:
    """Every finite number in the args, and those under amount-like keys."""
    numbers: list[float] = []
    amounts: list[float] = []
    todo: list[tuple[Any, bool, int]] = [(args, False, 0)]
    while todo:
        value, amount_like, depth = todo.pop()
        if depth > _MAX_DEPTH:
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                words = set(re.split(r"[^a-z]+", str(key).lower()))
                todo.append((item, bool(words & AMOUNT_WORDS), depth + 1))
        elif isinstance(value, list | tuple):
            todo.extend((item, amount_like, depth + 1) for item in value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = as_number(value)
            if number is not None:
                numbers.append(abs(number))
                if amount_like:
                    amounts.append(abs(number))
        elif amount_like and isinstance(value, str):
            number = as_number(value)  # "1,880.00" under `amount` is an amount
            if number is not None:
                amounts.append(abs(number))
    return numbers, amounts


def request_features(request: ApprovalRequest, *, at: datetime | None = None) -> dict[str, float]:
    """The features of one request routed at `at` (default now), by name; absent means 0.

    Example:
        >>> from langgraph_hitl.models import Action
        >>> req = ApprovalRequest(
        ...     action=Action(name="pay_invoice", args={"invoice_id": "INV-7", "amount": 52000}),
        ...     summary="Pay INV-7: 52,000.00 EUR to Acme GmbH",
        ...     reasons=["amount 52,000.00 is over the 10,000.00 limit"],
        ...     risk_tier="high",
        ...     confidence=0.91,
        ... )
        >>> feats = request_features(req, at=datetime(2025, 3, 1, 6, tzinfo=UTC))
        >>> feats["action=pay_invoice"], feats["tier=high"], round(feats["amount_log"], 2)
        (1.0, 1.0, 10.86)
        >>> feats["reason=amount is over the"], round(feats["hour_sin"], 2)
        (1.0, 1.0)
    """
    when = datetime.now(UTC) if at is None else at
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    hour = when.hour + when.minute / 60
    numbers, amounts = _numbers(request.action.args)
    keys = {reason_key(r) for r in request.reasons if not r.lower().startswith(_PREDICTED)} - {""}
    feats: dict[str, float] = {
        "confidence": request.confidence if request.confidence is not None else 0.0,
        "confidence_missing": 1.0 if request.confidence is None else 0.0,
        "amount_log": math.log1p(max(amounts)) if amounts else 0.0,
        "amount_missing": 0.0 if amounts else 1.0,
        "largest_number_log": math.log1p(max(numbers)) if numbers else 0.0,
        "hour_sin": math.sin(2 * math.pi * hour / 24),
        "hour_cos": math.cos(2 * math.pi * hour / 24),
        "reason_count": float(len(keys)),
        f"action={request.action.name}": 1.0,
        f"tier={request.risk_tier}": 1.0,
    }
    for key in keys:
        feats[f"reason={key}"] = 1.0
    return feats


def _vectorize(index: Mapping[str, int], feats: Mapping[str, float]) -> dict[int, float]:
    """Features as column -> value; an unknown category counts as its group's `<other>`."""
    out: dict[int, float] = {}
    for name, value in feats.items():
        column = index.get(name)
        if column is None:
            group, eq, _ = name.partition("=")
            if not eq:
                continue
            column = index.get(f"{group}={OTHER}")
            if column is None:
                continue
        out[column] = out.get(column, 0.0) + value
    return out


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class OverrideModel(BaseModel):
    """A logistic model of "a human will change this", saved and loaded as plain JSON.

    `probability()` standardizes each feature (`(x - mean) / scale`), weighs it by its
    coefficient and adds the intercept, in pure Python. The file carries a SHA-256
    `digest` of its content: a file edited by hand is refused on load (retrain
    instead), which catches mistakes, not a determined forger.

    Example:
        >>> from langgraph_hitl.capture.policy import ReviewPolicy, Tier
        >>> path = model.save("override-model.json")  # as `langgraph-hitl train` does
        >>> policy = ReviewPolicy(tiers=[Tier(name="medium")], predictor=OverrideModel.load(path))
        >>> reasons = ["vendor: 'Hooli Partners' is not in the vendor master"]
        >>> request = ledger.get(request_id).request  # INV-1003, now from an unknown vendor
        >>> update = {"risk_tier": "medium", "reasons": reasons, "confidence": 0.1}  # checks cut it
        >>> request = request.model_copy(update=update)
        >>> at = datetime(2026, 3, 1, 9, tzinfo=UTC)  # the hour of day is a feature
        >>> routing = policy.route({"confidence": 0.95}, request, thread_id="INV-1003", at=at)
        >>> routing.outcome, round(routing.score, 2)
        ('escalated', 0.72)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["langgraph-hitl/override-model"] = "langgraph-hitl/override-model"
    version: Literal[1] = 1
    feature_names: list[str]
    """Column names: `NUMERIC_FEATURES`, then `action=...`, `tier=...`, `reason=...`."""
    coefficients: list[float]
    """One weight per feature, on the standardized scale."""
    intercept: float
    mean: list[float]
    """Each feature's training mean."""
    scale: list[float]
    """Each feature's training standard deviation (1 where it did not vary)."""
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0)
    """The threshold the metrics were measured at."""
    trained_at: datetime
    n_examples: int = Field(ge=0)
    metrics: dict[str, Any] = Field(default_factory=dict)
    """The held-out report from training (`TrainReport.to_json()`)."""

    _index: dict[str, int] = PrivateAttr(default_factory=dict)
    _base: float = PrivateAttr(default=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> OverrideModel:
        n = len(self.feature_names)
        for name in ("coefficients", "mean", "scale"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values for {n} features")
        if len(set(self.feature_names)) != n:
            raise ValueError("feature_names repeat a name")
        missing = [f for f in NUMERIC_FEATURES if f not in self.feature_names]
        if missing:
            raise ValueError(f"feature_names lack {missing}")
        for name in self.feature_names:
            group, eq, _ = name.partition("=")
            if name not in NUMERIC_FEATURES and not (eq and group in CATEGORIES):
                raise ValueError(f"unknown feature {name!r}")
        numbers = [self.intercept, *self.coefficients, *self.mean, *self.scale]
        if not all(math.isfinite(x) for x in numbers):
            raise ValueError("coefficients, intercept and scaling must be finite numbers")
        if any(s <= 0 for s in self.scale):
            raise ValueError("every scale must be positive")
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        # Every feature absent from a request is 0: fold its share into one constant.
        self._base = self.intercept - sum(
            w * m / s for w, m, s in zip(self.coefficients, self.mean, self.scale, strict=True)
        )
        return self

    def _logit(self, feats: Mapping[str, float]) -> float:
        z = self._base
        for column, value in _vectorize(self._index, feats).items():
            z += self.coefficients[column] * value / self.scale[column]
        return z

    def probability(self, request: ApprovalRequest, *, at: datetime | None = None) -> float:
        """How likely a human is to change this action's outcome, 0..1 (class-balanced).

        Training weighs overrides and approvals equally, so 0.5 means "as likely as not
        once the base rate is set aside", and the default threshold 0.7 flags work that
        looks clearly more like past overrides than past approvals.

        Example:
            >>> request = ledger.get(request_id).request  # INV-1003, from a known vendor
            >>> at = datetime(2026, 3, 1, 9, tzinfo=UTC)
            >>> round(model.probability(request, at=at), 2)
            0.34
            >>> reasons = ["vendor: 'Hooli Partners' is not in the vendor master"]
            >>> flagged = request.model_copy(update={"reasons": reasons, "confidence": 0.1})
            >>> round(model.probability(flagged, at=at), 2)
            0.72
        """
        return _sigmoid(self._logit(request_features(request, at=at)))

    def explain(
        self, request: ApprovalRequest, *, at: datetime | None = None, top: int = 3
    ) -> list[tuple[str, float]]:
        """The features that pushed this request's score up the most, with their share of the logit.

        Example:
            >>> reasons = ["vendor: 'Hooli Partners' is not in the vendor master"]
            >>> request = ledger.get(request_id).request  # INV-1003, now from an unknown vendor
            >>> update = {"risk_tier": "medium", "reasons": reasons, "confidence": 0.1}
            >>> request = request.model_copy(update=update)
            >>> at = datetime(2026, 3, 1, 9, tzinfo=UTC)
            >>> [name for name, share in model.explain(request, at=at, top=2)]
            ['confidence', 'reason=vendor is not in']
        """
        x = _vectorize(self._index, request_features(request, at=at))
        parts = [
            (name, self.coefficients[i] * (x.get(i, 0.0) - self.mean[i]) / self.scale[i])
            for i, name in enumerate(self.feature_names)
        ]
        ranked = sorted((p for p in parts if p[1] > 0), key=lambda p: -p[1])
        return ranked[:top]

    def _content(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON with its digest (atomically); returns the path.

        Example:
            >>> model.save("override-model.json")
            PosixPath('override-model.json')
        """
        target = Path(path)
        content = self._content()
        content["digest"] = _digest(content)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", "utf-8")
            os.replace(tmp, target)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise BadInputError(f"cannot write the model to {target}: {err.strerror}") from None
        return target

    @classmethod
    def load(cls, path: str | Path) -> OverrideModel:
        """Read a model `save` wrote. A missing, malformed or edited file is a `ConfigurationError`.

        Example:
            >>> path = model.save("override-model.json")
            >>> OverrideModel.load(path) == model, OverrideModel.load(path).n_examples
            (True, 36)
        """
        where = Path(path)
        try:
            data = json.loads(where.read_text("utf-8"))
        except OSError as err:
            raise ConfigurationError(f"cannot read model {where}: {err.strerror}") from None
        except (ValueError, RecursionError) as err:
            raise ConfigurationError(f"model {where} is not valid JSON: {err}") from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"model {where} is not a JSON object")
        if data.get("format") != MODEL_FORMAT:
            raise ConfigurationError(
                f"{where} is not a langgraph-hitl override model (format {data.get('format')!r})"
            )
        digest = data.pop("digest", None)
        try:
            model = cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            at = ".".join(str(p) for p in first["loc"]) or "model"
            raise ConfigurationError(f"model {where}: {at}: {first['msg']}") from None
        if digest != _digest(model._content()):
            raise ConfigurationError(
                f"model {where} was changed after training (its digest does not match):"
                " retrain it with `langgraph-hitl train`"
            )
        return model


def _digest(content: Mapping[str, Any]) -> str:
    body = {k: v for k, v in content.items() if k != "digest"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


# -- training ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scores:
    """Precision and recall of one flagging rule on the held-out split."""

    flagged: int
    """Held-out examples the rule flags for a human."""
    caught: int
    """Flagged examples a human did change (true positives)."""
    positives: int
    """Held-out examples a human changed."""
    total: int

    @property
    def precision(self) -> float | None:
        """Share of flagged work a human changed; None when nothing was flagged."""
        return None if not self.flagged else self.caught / self.flagged

    @property
    def recall(self) -> float | None:
        """Share of changed work that was flagged; None when nothing was changed."""
        return None if not self.positives else self.caught / self.positives

    @property
    def f1(self) -> float:
        p, r = self.precision or 0.0, self.recall or 0.0
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)

    @property
    def flag_rate(self) -> float:
        return self.flagged / self.total if self.total else 0.0

    @classmethod
    def of(cls, flags: Sequence[bool], labels: Sequence[int]) -> Scores:
        return cls(
            flagged=sum(flags),
            caught=sum(1 for f, y in zip(flags, labels, strict=True) if f and y),
            positives=sum(labels),
            total=len(labels),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "flagged": self.flagged,
            "flag_rate": self.flag_rate,
            "caught": self.caught,
            "positives": self.positives,
            "total": self.total,
        }


@dataclass(frozen=True, kw_only=True)
class TrainReport:
    """How the model did on held-out history, next to confidence alone.

    The baseline flags work whose confidence is below one threshold (or missing), the
    threshold chosen on the training split so that it flags as much of it as the model
    does at its own threshold: both rules get the same budget of human attention, and
    their precision and recall on the held-out split compare directly.

    Example:
        >>> model, report = train(ledger, seed=7)
        >>> report.n_train, report.n_test, report.overrides
        (36, 12, 22)
        >>> round(report.model.recall, 2), report.baseline.recall, report.beats_baseline
        (0.83, 1.0, False)
    """

    n_examples: int
    n_train: int
    n_test: int
    overrides: int
    """Examples a human changed (label 1), in all."""
    from_decisions: int
    from_reviews: int
    threshold: float
    model: Scores
    baseline: Scores
    baseline_threshold: float
    """The baseline flags confidence below this (or missing)."""
    seed: int
    test_size: float
    converged: bool
    top_features: list[tuple[str, float]] = field(default_factory=list)
    """The heaviest coefficients, by absolute value."""

    @property
    def beats_baseline(self) -> bool:
        """The model's held-out F1 is higher than the baseline's."""
        return self.model.f1 > self.baseline.f1

    @property
    def baseline_rule(self) -> str:
        return (
            f"confidence below {self.baseline_threshold:.2f} (or missing), the confidence"
            " threshold that flags as much of the training split as the model does"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "n_examples": self.n_examples,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "overrides": self.overrides,
            "from_decisions": self.from_decisions,
            "from_reviews": self.from_reviews,
            "threshold": self.threshold,
            "model": self.model.to_json(),
            "baseline": {
                **self.baseline.to_json(),
                "threshold": self.baseline_threshold,
                "rule": self.baseline_rule,
            },
            "beats_baseline": self.beats_baseline,
            "seed": self.seed,
            "test_size": self.test_size,
            "converged": self.converged,
            "top_features": [[name, weight] for name, weight in self.top_features],
        }


def _sklearn() -> Any:
    try:
        import numpy
        from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
        from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
        from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(
            "training needs scikit-learn: install langgraph-hitl[predict]"
        ) from None
    return numpy, ConvergenceWarning, LogisticRegression, train_test_split, StandardScaler


def _flags_below(confidences: Sequence[float | None], t: float) -> list[bool]:
    return [c is None or c < t for c in confidences]


def train(
    ledger: ReviewLedger,
    *,
    seed: int = 0,
    test_size: float = 0.25,
    threshold: float = DEFAULT_THRESHOLD,
    min_per_class: int = MIN_PER_CLASS,
) -> tuple[OverrideModel, TrainReport]:
    """Fit an `OverrideModel` on the ledger's history and score it on a held-out split.

    Examples come from `feedback.training_examples` (human decisions and closed
    after-the-fact reviews). The split is stratified and fixed by `seed`; the model
    saved is the one fitted on the training split, the one the report measures.

    Args:
        ledger: The ledger whose history to learn from.
        seed: Fixes the split and the solver.
        test_size: Share of examples held out, in (0, 1).
        threshold: The score at which the model flags work (the router's threshold).
        min_per_class: Overrides and approvals needed, each.

    Raises:
        BadInputError: Too little history (the message says how much there is), or a
            split that cannot be made.
        ConfigurationError: scikit-learn is not installed.

    Example:
        >>> from langgraph_hitl.ledger import ReviewLedger
        >>> with ReviewLedger.open("hitl.sqlite") as ledger:
        ...     model, report = train(ledger, seed=7)
        >>> model.save("override-model.json")  # beside the database: the invoice graph loads it
        PosixPath('override-model.json')
        >>> report.top_features[0][0]  # the heaviest coefficient
        'confidence'
    """
    from langgraph_hitl.deciding.feedback import training_examples

    if not 0.0 < test_size < 1.0:
        raise BadInputError(f"test size must be within (0, 1), got {test_size}")
    if not 0.0 <= threshold <= 1.0:
        raise BadInputError(f"threshold must be within 0..1, got {threshold}")
    examples = training_examples(ledger)
    labels = [e.label for e in examples]
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives < min_per_class or negatives < min_per_class:
        raise BadInputError(
            f"not enough history to train: {len(labels)} examples ({positives} overrides,"
            f" {negatives} approvals); need at least {min_per_class} of each"
        )
    np, convergence_warning, logistic, split, scaler_cls = _sklearn()
    feats = [request_features(e.request, at=e.at) for e in examples]
    try:
        train_idx, test_idx = split(
            list(range(len(examples))), test_size=test_size, random_state=seed, stratify=labels
        )
    except ValueError as err:
        raise BadInputError(
            f"cannot hold out {test_size} of {len(labels)} examples: {err}"
        ) from None

    counts: Counter[str] = Counter(name for i in train_idx for name in feats[i] if "=" in name)
    kept = sorted(name for name, n in counts.items() if n >= MIN_COUNT)
    names = [*NUMERIC_FEATURES, *kept, *(f"{g}={OTHER}" for g in CATEGORIES)]
    index = {name: i for i, name in enumerate(names)}
    matrix = np.zeros((len(examples), len(names)))
    for row, f in enumerate(feats):
        for column, value in _vectorize(index, f).items():
            matrix[row, column] = value
    y = np.asarray(labels)
    x_train, y_train = matrix[train_idx], y[train_idx]

    scaler = scaler_cls().fit(x_train)
    max_iter = 1000
    clf = logistic(class_weight="balanced", max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        # Checked below through n_iter_ and reported, rather than printed.
        warnings.filterwarnings("ignore", category=convergence_warning)
        clf.fit(scaler.transform(x_train), y_train)
    model = OverrideModel(
        feature_names=names,
        coefficients=[float(w) for w in clf.coef_[0]],
        intercept=float(clf.intercept_[0]),
        mean=[float(m) for m in scaler.mean_],
        scale=[float(s) for s in scaler.scale_],
        threshold=threshold,
        trained_at=datetime.now(UTC),
        n_examples=len(train_idx),
    )

    def scores(idx: Sequence[int]) -> list[float]:
        return [_sigmoid(model._logit(feats[i])) for i in idx]

    model_train = [p >= threshold for p in scores(train_idx)]
    conf = [e.request.confidence for e in examples]
    train_conf = [conf[i] for i in train_idx]
    target = sum(model_train) / len(model_train)
    # The confidence threshold (0.00 to 1.00 by 0.01) flagging the training split at the
    # model's rate; the lower one on a tie.
    baseline_t = min(
        (i / 100 for i in range(101)),
        key=lambda t: (abs(sum(_flags_below(train_conf, t)) / len(train_conf) - target), t),
    )
    test_labels = [labels[i] for i in test_idx]
    model_scores = Scores.of([p >= threshold for p in scores(test_idx)], test_labels)
    baseline_scores = Scores.of(_flags_below([conf[i] for i in test_idx], baseline_t), test_labels)
    ranked = sorted(zip(names, model.coefficients, strict=True), key=lambda p: -abs(p[1]))
    report = TrainReport(
        n_examples=len(examples),
        n_train=len(train_idx),
        n_test=len(test_idx),
        overrides=positives,
        from_decisions=sum(1 for e in examples if e.source == "decision"),
        from_reviews=sum(1 for e in examples if e.source == "review"),
        threshold=threshold,
        model=model_scores,
        baseline=baseline_scores,
        baseline_threshold=baseline_t,
        seed=seed,
        test_size=test_size,
        converged=bool(clf.n_iter_[0] < max_iter),
        top_features=[(n, round(w, 4)) for n, w in ranked[:5]],
    )
    return model.model_copy(update={"metrics": report.to_json()}), report
