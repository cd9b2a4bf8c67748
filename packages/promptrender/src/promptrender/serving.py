"""What a render serves: the version active in the environment, or, while an A/B test runs there, the
subject's variant. The server's render and the client's decide it here, with the same hash
(promptrender.assignment), so both serve a subject the same version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from promptrender.assignment import choose_variant
from promptrender.rendering import RenderPlan


@dataclass(frozen=True)
class ServedVariant:
    key: str  # the variant's id, as the test's creator named it
    version_id: UUID
    is_control: bool


@dataclass(frozen=True)
class TestVariants:
    """A test's variants in their order, with their traffic percentages: all that assignment needs."""

    __test__ = False  # not a pytest test class, whatever its name

    test_id: UUID
    variants: tuple[ServedVariant, ...]
    percentages: tuple[float, ...]

    @property
    def control(self) -> ServedVariant:
        return next(variant for variant in self.variants if variant.is_control)

    def variant_for(self, subject_id: str, *, running: bool) -> ServedVariant:
        """The subject's variant: its bucket while the test runs; the control while it is paused (pausing
        stops new exposure)."""
        if not running:
            return self.control
        index = choose_variant(str(self.test_id), subject_id, self.percentages)
        return self.variants[index] if index is not None else self.control


@dataclass(frozen=True)
class LiveTest:
    """The A/B test live for a template in an environment: running, or paused (its control is served)."""

    variants: TestVariants
    running: bool


@dataclass(frozen=True)
class Served:
    """What a render serves: a version (None: nothing is active), and the test and variant it stands for."""

    version_id: UUID | None
    test_id: UUID | None = None
    variant_key: str | None = None


def what_to_serve(active_version_id: UUID | None, live: LiveTest | None, subject_id: str | None) -> Served:
    """The active version, unless a test is live and the render names a subject: then the subject's variant
    (renders without a subject are not part of the test)."""
    if live is None or subject_id is None:
        return Served(active_version_id)
    variant = live.variants.variant_for(subject_id, running=live.running)
    return Served(variant.version_id, live.variants.test_id, variant.key)


def result_json(
    plan: RenderPlan,
    environment: str,
    output: str | list[dict[str, str]],
    test_id: UUID | None = None,
    variant_key: str | None = None,
) -> dict[str, Any]:
    """A render's answer, as `POST /api/templates/{id}/render` gives it."""
    body: dict[str, Any] = {
        "templateId": str(plan.template_id),
        "versionId": str(plan.version_id),
        "version": plan.version,
        "environment": environment,
    }
    body["messages" if isinstance(output, list) else "rendered"] = output
    body["modelConfig"] = plan.definition.model_config
    if test_id is not None:
        body["abTestId"], body["variantId"] = str(test_id), variant_key
    return body
