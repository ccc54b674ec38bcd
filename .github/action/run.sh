#!/usr/bin/env bash
# Run migrail for the GitHub Action. Inputs arrive as environment variables (never
# expanded into this script by the workflow), and migrail replaces this shell (`exec`) so
# the runner's cancel signals reach it (`migrail run` detaches from the task on SIGINT).
set -euo pipefail

args=("$INPUT_COMMAND")
split() { read -r -a words <<< "$1"; args+=("${words[@]}"); }

case "$INPUT_COMMAND" in
  lint)
    [ -n "$INPUT_FORMAT" ] && args+=(--format "$INPUT_FORMAT")
    [ -n "$INPUT_BASE" ] && args+=(--base "$INPUT_BASE")
    [ -n "$INPUT_PATHS" ] && split "$INPUT_PATHS"
    ;;
  comment)
    [ -n "$INPUT_BASE" ] && args+=(--base "$INPUT_BASE")
    [ -n "$INPUT_KEY" ] && args+=(--key "$INPUT_KEY")
    [ -n "$INPUT_PATHS" ] && split "$INPUT_PATHS"
    ;;
  run | ci | deploy)
    [ -n "$INPUT_CLUSTER" ] && args+=(--cluster "$INPUT_CLUSTER")
    [ -n "$INPUT_SERVICE" ] && args+=(--service "$INPUT_SERVICE")
    if [ -n "${INPUT_SERVICES:-}" ]; then
      read -r -a services <<< "$INPUT_SERVICES"
      for s in "${services[@]}"; do args+=(--service "$s"); done
    fi
    [ -n "$INPUT_TASK_DEFINITION" ] && args+=(--task-definition "$INPUT_TASK_DEFINITION")
    if [ "$INPUT_COMMAND" = deploy ] && [ -n "${INPUT_IMAGE:-}" ]; then
      read -r -a images <<< "$INPUT_IMAGE"
      for i in "${images[@]}"; do args+=(--image "$i"); done
    fi
    [ -n "$INPUT_CONTAINER" ] && args+=(--container "$INPUT_CONTAINER")
    [ -n "$INPUT_TIMEOUT" ] && args+=(--timeout "$INPUT_TIMEOUT")
    [ -n "${INPUT_PREFLIGHT:-}" ] && args+=(--preflight "$INPUT_PREFLIGHT")
    if [ "$INPUT_COMMAND" = ci ] && [ -n "$INPUT_KEY" ]; then args+=(--key "$INPUT_KEY"); fi
    ;;
  *)
    echo "::error title=migrail::unknown command '$INPUT_COMMAND' (ci, lint, run, deploy, comment)" >&2
    exit 2
    ;;
esac
# `suggestions: false`: the fixes stay in the sticky comment, not on the lines.
case "${INPUT_SUGGESTIONS:-}" in
  "" | true) ;;
  false)
    if [ "$INPUT_COMMAND" = ci ] || [ "$INPUT_COMMAND" = comment ]; then args+=(--no-suggestions); fi
    ;;
  *)
    echo "::error title=migrail::input suggestions: expected true or false, got '$INPUT_SUGGESTIONS'" >&2
    exit 2
    ;;
esac
[ -n "$INPUT_ARGS" ] && split "$INPUT_ARGS"
if [ -n "${INPUT_RUN_COMMAND:-}" ] && { [ "$INPUT_COMMAND" = run ] || [ "$INPUT_COMMAND" = ci ] || [ "$INPUT_COMMAND" = deploy ]; }; then
  read -r -a run_command <<< "$INPUT_RUN_COMMAND"
  args+=(-- "${run_command[@]}")
fi
exec migrail "${args[@]}"
