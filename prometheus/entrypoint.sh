#!/bin/sh
# Render prometheus.yml from its template and the environment, write the backend bearer tokens
# to private files, then exec Prometheus. POSIX sh only: the prom/prometheus image is busybox.
#
# PROMETHEUS_RENDER_ONLY=1 stops after rendering (the tests use this to check the real output).
set -eu

template="${PROMETHEUS_CONFIG_TEMPLATE:-/etc/prometheus/prometheus.yml.tmpl}"
out_dir="${PROMETHEUS_RENDER_DIR:-/etc/prometheus/rendered}"
rules_dir="${PROMETHEUS_RULES_DIR:-/etc/prometheus/rules}"
environment="${ENVIRONMENT:-local}"
provider_exporter="${PROVIDER_EXPORTER_TARGET:-provider-exporter:8001}"
replicas_dns="${PROVIDER_EXPORTER_REPLICAS_DNS:-}"
vantage_targets="${PROVIDER_EXPORTER_VANTAGE_TARGETS:-}"
redis_exporter="${REDIS_EXPORTER_TARGET:-redis-exporter:9121}"
alertmanager="${ALERTMANAGER_TARGET:-alertmanager:9093}"
production="${GATEWAYZ_PRODUCTION_TARGET:-}"
staging="${GATEWAYZ_STAGING_TARGET:-}"

fail() {
    echo "entrypoint: $*" >&2
    exit 2
}

# A target is host:port: no scheme (the job sets it), nothing YAML or sed could misread.
check_target() {
    case "$2" in
        *://*) fail "$1 must be host:port without a scheme, got '$2'" ;;
        *[!A-Za-z0-9._:-]*) fail "$1 may only contain letters, digits, '.', '-', '_' and ':', got '$2'" ;;
        *:*) ;;
        *) fail "$1 must be host:port, got '$2'" ;;
    esac
}

# A comma-separated list of targets renders as quoted entries; an empty one as an empty list.
targets_list() {
    [ -n "$2" ] || return 0
    case "$2" in
        ,* | *, | *,,*) fail "$1 has an empty entry: '$2'" ;;
    esac
    list=""
    old_ifs="$IFS"
    IFS=,
    for entry in $2; do
        check_target "$1" "$entry"
        list="$list${list:+, }\"$entry\""
    done
    IFS="$old_ifs"
    printf '%s' "$list"
}

# The provider_exporter job's discovery: every replica behind one DNS name (AAAA records, one
# per replica: Railway's private network is IPv6, and new environments answer AAAA there too),
# or the one static target. dns_sd_configs takes no `labels`, so a relabel rule adds
# `environment` as the static target's group does.
exporter_discovery() {
    if [ -z "$replicas_dns" ]; then
        printf '    static_configs:\n      - targets: ["%s"]\n        labels:\n          environment: "%s"\n' \
            "$provider_exporter" "$environment"
        return
    fi
    host="${replicas_dns%:*}"
    port="${replicas_dns##*:}"
    case "$port" in
        "" | *[!0-9]*) fail "PROVIDER_EXPORTER_REPLICAS_DNS must be host:port with a numeric port, got '$replicas_dns'" ;;
    esac
    case "$host" in
        "" | *:*) fail "PROVIDER_EXPORTER_REPLICAS_DNS must be host:port (a DNS name, not an address), got '$replicas_dns'" ;;
    esac
    printf '    dns_sd_configs:\n      - names: ["%s"]\n        type: AAAA\n        port: %s\n        refresh_interval: 30s\n' \
        "$host" "$port"
    printf '    relabel_configs:\n      - target_label: environment\n        replacement: "%s"\n' \
        "$environment"
}

# An empty optional target renders an empty list; a set one a single quoted entry.
target_list() {
    if [ -z "$2" ]; then
        printf ''
        return
    fi
    check_target "$1" "$2"
    printf '"%s"' "$2"
}

case "$environment" in
    "" | *[!A-Za-z0-9_-]*) fail "ENVIRONMENT may only contain letters, digits, '-' and '_', got '$environment'" ;;
esac
case "$rules_dir" in
    *[!A-Za-z0-9._/-]*) fail "PROMETHEUS_RULES_DIR has characters outside [A-Za-z0-9._/-]: '$rules_dir'" ;;
esac
case "$out_dir" in
    *[!A-Za-z0-9._/-]*) fail "PROMETHEUS_RENDER_DIR has characters outside [A-Za-z0-9._/-]: '$out_dir'" ;;
esac
check_target PROVIDER_EXPORTER_TARGET "$provider_exporter"
if [ -n "$replicas_dns" ]; then
    [ -z "${PROVIDER_EXPORTER_TARGET-}" ] \
        || fail "set PROVIDER_EXPORTER_TARGET or PROVIDER_EXPORTER_REPLICAS_DNS, not both"
    check_target PROVIDER_EXPORTER_REPLICAS_DNS "$replicas_dns"
fi
vantage_list="$(targets_list PROVIDER_EXPORTER_VANTAGE_TARGETS "$vantage_targets")"
check_target REDIS_EXPORTER_TARGET "$redis_exporter"
check_target ALERTMANAGER_TARGET "$alertmanager"
production_list="$(target_list GATEWAYZ_PRODUCTION_TARGET "$production")"
staging_list="$(target_list GATEWAYZ_STAGING_TARGET "$staging")"
[ -r "$template" ] || fail "cannot read the config template $template"

mkdir -p "$out_dir"
production_token_file="$out_dir/gatewayz_production.token"
staging_token_file="$out_dir/gatewayz_staging.token"
vantages_token_file="$out_dir/provider_exporter_vantages.token"
discovery_file="$out_dir/provider_exporter_discovery.yml.part"

# Tokens go only into mode-600 files, never into the rendered config or the log. An unset token
# leaves the file empty: the config stays valid and the backend target shows 401 on /targets.
umask 077
printf '%s' "${GATEWAYZ_METRICS_TOKEN:-}" >"$production_token_file"
printf '%s' "${GATEWAYZ_STAGING_METRICS_TOKEN:-${GATEWAYZ_METRICS_TOKEN:-}}" >"$staging_token_file"
printf '%s' "${PROVIDER_EXPORTER_METRICS_TOKEN:-}" >"$vantages_token_file"
chmod 600 "$production_token_file" "$staging_token_file" "$vantages_token_file"
umask 022
# A failed check in exporter_discovery must stop the start: run it outside a command substitution.
exporter_discovery >"$discovery_file"

# Every value substituted below has been restricted to [A-Za-z0-9._:/"-], so '|' is a safe
# sed delimiter and nothing needs escaping.
sed \
    -e "s|@@ENVIRONMENT@@|$environment|g" \
    -e "s|@@ALERTMANAGER_TARGET@@|$alertmanager|g" \
    -e "s|@@RULES_DIR@@|$rules_dir|g" \
    -e "s|@@PROVIDER_EXPORTER_TARGET@@|$provider_exporter|g" \
    -e "s|@@REDIS_EXPORTER_TARGET@@|$redis_exporter|g" \
    -e "s|@@GATEWAYZ_PRODUCTION_TARGETS@@|$production_list|g" \
    -e "s|@@GATEWAYZ_STAGING_TARGETS@@|$staging_list|g" \
    -e "s|@@PRODUCTION_CREDENTIALS_FILE@@|$production_token_file|g" \
    -e "s|@@STAGING_CREDENTIALS_FILE@@|$staging_token_file|g" \
    -e "s|@@PROVIDER_EXPORTER_VANTAGE_TARGETS@@|$vantage_list|g" \
    -e "s|@@VANTAGES_CREDENTIALS_FILE@@|$vantages_token_file|g" \
    -e "/# @@PROVIDER_EXPORTER_DISCOVERY@@/r $discovery_file" \
    -e "/# @@PROVIDER_EXPORTER_DISCOVERY@@/d" \
    "$template" >"$out_dir/prometheus.yml.tmp"
rm -f "$discovery_file"
# Comments may mention the placeholder syntax; any left in a YAML value is a bug in the template.
leftover="$(grep -v '^[[:space:]]*#' "$out_dir/prometheus.yml.tmp" | grep -o '@@[A-Z_]*@@' | head -n 1 || true)"
if [ -n "$leftover" ]; then
    rm -f "$out_dir/prometheus.yml.tmp"
    fail "unrendered placeholder $leftover left in the config"
fi
mv "$out_dir/prometheus.yml.tmp" "$out_dir/prometheus.yml"
echo "entrypoint: rendered $out_dir/prometheus.yml (environment=$environment${replicas_dns:+, exporter replicas by DNS $replicas_dns})" >&2

if [ "${PROMETHEUS_RENDER_ONLY:-0}" = "1" ]; then
    exit 0
fi

# The image's usual flags, plus: 31 d retention so the 30 d availability window has data, and the
# remote-write receiver that Tempo's metrics generator pushes span metrics to. Extra arguments
# given to the container are passed through.
exec /bin/prometheus \
    --config.file="$out_dir/prometheus.yml" \
    --storage.tsdb.path="${PROMETHEUS_STORAGE_PATH:-/prometheus}" \
    --storage.tsdb.retention.time="${PROMETHEUS_RETENTION:-31d}" \
    --web.enable-remote-write-receiver \
    "$@"
