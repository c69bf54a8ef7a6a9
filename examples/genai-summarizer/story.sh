#!/usr/bin/env bash
# The whole story of examples/genai-summarizer, non-interactively, from a fresh catalog:
#   1. the first model   2. new data, fine-tuned from production   3. a regression is stopped
#   4. the flawed evaluation set   5. look around
#
#   ASSAY=../../.venv/bin/assay ./story.sh     # ASSAY: the assay command (default: assay)
#   MAX_STEPS=20 ./story.sh                    # shorter training (tests); default: valohai.yaml's
#                                              # (20 is about the least that keeps the verdicts)
#
# It removes this folder's .assay/ first (the catalog and everything the last story recorded).
set -euo pipefail

ASSAY="${ASSAY:-assay}"
case "$ASSAY" in  # a path relative to where we were called from still works after the cd
  */*) ASSAY="$(cd "$(dirname "$ASSAY")" && pwd)/$(basename "$ASSAY")" ;;
esac
cd "$(dirname "$0")"

# Who does what: Sam runs the pipelines, Alice reviews and approves.
export ASSAY_USER="${ASSAY_USER:-sam}"
[ -t 1 ] || export COLUMNS="${COLUMNS:-200}"  # into a file or a pipe: wide enough not to cut lines
STEPS=()
if [ -n "${MAX_STEPS:-}" ]; then
  STEPS=(--param "max-steps=$MAX_STEPS")
fi

chapter() { printf '\n======== %s\n' "$*"; }
say() { printf '\n'; printf '# %s\n' "$@"; }  # one comment line per argument
show() {  # the command as one would type it
  local line="\$" word
  for word in "$@"; do
    case "$word" in
      *[!A-Za-z0-9_./:=@+,-]*) line+=" \"$word\"" ;;
      *) line+=" $word" ;;
    esac
  done
  printf '%s\n' "$line"
}
assay() {
  show assay "$@"
  "$ASSAY" "$@"
}
as_alice() {
  show ASSAY_USER=alice assay "$@"
  ASSAY_USER=alice "$ASSAY" "$@"
}

rm -rf .assay

chapter "1. The first model"
assay lint
say "Data arrives from outside: a news corpus and a set of evaluation prompts."
assay datasets create domain-news v1 data/domain-news/v1
assay datasets create evaluation-prompts v1 data/evaluation-prompts/v1
say "Train from scratch, evaluate, and stop at the approval gate (nothing waits there)."
assay pipeline run train-and-evaluate-model --quiet ${STEPS[@]+"${STEPS[@]}"} \
  --input evaluate-model.evaluation-data=dataset://evaluation-prompts/v1
assay executions logs 2
say "Alice reads the samples, approves, and scores the result on the card."
as_alice pipeline approve 1 promote-model --comment "first model: summaries keep the lead's facts"
as_alice models score summarizer/v1 --rubric factuality 4 --comment "numbers right in most samples"
assay models show summarizer/production

chapter "2. New data, fine-tuned from production"
say "More and cleaner articles, and a new evaluation set (v2) put together from the same pool."
assay datasets create domain-news v2 data/domain-news/v2
assay datasets create evaluation-prompts v2 data/evaluation-prompts/v2
say "Fine-tune model://summarizer/production on domain-news/latest (v2); the baseline is v1."
assay pipeline run train-and-evaluate-model --quiet ${STEPS[@]+"${STEPS[@]}"} \
  --input train-model.base-model=model://summarizer/production \
  --input evaluate-model.evaluation-data=dataset://evaluation-prompts/v2
assay executions logs 5
as_alice pipeline approve 2 promote-model --comment "ROUGE-L up on the new prompts"
as_alice models score summarizer/v2 --rubric factuality 4
assay models compare summarizer/v1 summarizer/v2

chapter "3. A regression is stopped"
assay datasets create evaluation-prompts v3 data/evaluation-prompts/v3
say "learning-rate=5 wrecks the model: the baseline condition on evaluate-model stops the run."
assay pipeline run train-and-evaluate-model --quiet ${STEPS[@]+"${STEPS[@]}"} --param learning-rate=5 \
  --input train-model.base-model=model://summarizer/production \
  --input evaluate-model.evaluation-data=dataset://evaluation-prompts/v3
assay pipeline show 3
assay models versions summarizer

chapter "4. The flawed evaluation set"
say "evaluation-prompts/v2 turns out to copy its references from the training data, so v2's" \
  "ROUGE-L was measured on text it had learned. Which models passed an evaluation on it?"
assay lineage affected dataset://evaluation-prompts/v2
say "Flag it; --demote moves production back to the newest approved version it did not touch."
assay datasets flag dataset://evaluation-prompts/v2 --demote \
  --reason "references copy the training summaries of domain-news/v2"
assay models alias history summarizer production
assay models list
say "What does v2 score on prompts it never saw? (Putting it back in production is a person's" \
  "decision: assay models alias set summarizer/v2 production.)"
assay run evaluate-model --input model=model://summarizer/v2 \
  --input evaluation-data=dataset://evaluation-prompts/v3

chapter "5. Look around"
assay models show summarizer/v2
assay lineage show model://summarizer/v2
assay datasets list
assay pipeline list
assay executions list
