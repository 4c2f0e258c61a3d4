#!/bin/sh
# Render alertmanager.yml from its template and the environment, then exec Alertmanager.
# POSIX sh only: the prom/alertmanager image is busybox.
#
# ALERTMANAGER_RENDER_ONLY=1 stops after rendering (the tests use this to check the real output).
set -eu

template="${ALERTMANAGER_CONFIG_TEMPLATE:-/etc/alertmanager/alertmanager.yml.tmpl}"
out_dir="${ALERTMANAGER_RENDER_DIR:-/etc/alertmanager/rendered}"
slack_url="${ALERTMANAGER_SLACK_WEBHOOK_URL:-}"
slack_channel="${ALERTMANAGER_SLACK_CHANNEL:-}"
webhook_url="${ALERTMANAGER_WEBHOOK_URL:-}"

fail() {
    echo "entrypoint: $*" >&2
    exit 2
}

# A URL is written into YAML double quotes: it must be http(s) and carry nothing that could
# end the string or the line.
check_url() {
    case "$2" in
        http://* | https://*) ;;
        *) fail "$1 must start with http:// or https://" ;;
    esac
    case "$2" in
        *[!A-Za-z0-9._~:/?#@!\$\&\'\(\)*+,\;=%-]*) fail "$1 contains a character that is not allowed in a URL" ;;
    esac
}

case "$out_dir" in
    *[!A-Za-z0-9._/-]*) fail "ALERTMANAGER_RENDER_DIR has characters outside [A-Za-z0-9._/-]: '$out_dir'" ;;
esac
case "$slack_channel" in
    *[!A-Za-z0-9#@._-]*) fail "ALERTMANAGER_SLACK_CHANNEL may only contain letters, digits and #@._-" ;;
esac
[ -r "$template" ] || fail "cannot read the config template $template"
mkdir -p "$out_dir"

snippet="$out_dir/receiver.yml.part"
: >"$snippet"
if [ -n "$slack_url" ]; then
    check_url ALERTMANAGER_SLACK_WEBHOOK_URL "$slack_url"
    # The Slack URL is a secret: it goes to a mode-600 file read through api_url_file.
    umask 077
    printf '%s' "$slack_url" >"$out_dir/slack_webhook_url"
    chmod 600 "$out_dir/slack_webhook_url"
    umask 022
    {
        echo "    slack_configs:"
        echo "      - api_url_file: \"$out_dir/slack_webhook_url\""
        echo "        send_resolved: true"
        if [ -n "$slack_channel" ]; then
            echo "        channel: \"$slack_channel\""
        fi
        # printf '%s\n', not echo: dash's echo would turn the template's \n into a real newline.
        printf '%s\n' "        title: '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.provider }}'"
        printf '%s\n' "        text: '{{ range .Alerts }}{{ .Annotations.description }} (runbook: {{ .Annotations.runbook }}){{ \"\\n\" }}{{ end }}'"
    } >>"$snippet"
fi
if [ -n "$webhook_url" ]; then
    check_url ALERTMANAGER_WEBHOOK_URL "$webhook_url"
    # Alertmanager 0.28 could read this from url_file, but the 0.25 checker the tests use does
    # not know that field; the rendered file is mode 600 and lives only in the container.
    {
        echo "    webhook_configs:"
        echo "      - url: \"$webhook_url\""
        echo "        send_resolved: true"
    } >>"$snippet"
fi
if [ ! -s "$snippet" ]; then
    echo "entrypoint: warning: neither ALERTMANAGER_SLACK_WEBHOOK_URL nor ALERTMANAGER_WEBHOOK_URL is set; alerts are only visible in the Alertmanager UI" >&2
fi

umask 077
sed -e "/# @@RECEIVER@@/r $snippet" -e "/# @@RECEIVER@@/d" "$template" >"$out_dir/alertmanager.yml"
umask 022
rm -f "$snippet"
echo "entrypoint: rendered $out_dir/alertmanager.yml" >&2

if [ "${ALERTMANAGER_RENDER_ONLY:-0}" = "1" ]; then
    exit 0
fi

# The image's usual flags. A single instance: clustering is switched off (an empty listen
# address), which also avoids the "no private IP address found" start-up failure on some hosts.
exec /bin/alertmanager \
    --config.file="$out_dir/alertmanager.yml" \
    --storage.path="${ALERTMANAGER_STORAGE_PATH:-/alertmanager}" \
    --cluster.listen-address= \
    "$@"
