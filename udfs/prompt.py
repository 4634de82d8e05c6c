"""RAG_PROMPT(template, context_json, budget_tokens): a prompt from retrieved hits.

Fills `{context}` in the template with as many whole hits of VECTOR_LOOKUP_JSON's output as
fit the token budget, best score first (see `connectors.prompt`), one line per passage that
starts with its id label, `[id] text`: what an answer cites, and what LLM_COMPLETE_JSON and
LLM_COMPLETE_CITED read back to limit citations to the passages shown. NULL template gives NULL;
a template without `{context}` or context that is not lookup JSON gives NULL and a logged,
counted error (one bad row never fails the job).
"""

from __future__ import annotations

import logging

from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..connectors.errors import InputError
from ..connectors.prompt import hits_from_json, render_prompt
from . import flink_metrics

log = logging.getLogger(__name__)


class RagPrompt(ScalarFunction):
    def open(self, function_context: FunctionContext) -> None:
        self._metrics = flink_metrics.from_context(function_context)

    def eval(self, template: str | None, context_json: str | None, budget_tokens: int | None):
        if template is None:
            return None
        try:
            return render_prompt(template, hits_from_json(context_json), budget_tokens)
        except InputError as err:
            self._metrics.incr("prompt_errors")
            log.warning("RAG_PROMPT: %s", err)
            return None
        finally:
            self._metrics.flush()


RAG_PROMPT = udf(RagPrompt(), result_type=DataTypes.STRING())
