/* dashboard_assets.h — the files of shim/cli/dashboard/, compiled into the
 * command: the Makefile writes them out with `xxd -i` into
 * $(BUILD)/gen/dashboard_assets.c. Bytes and length of each, no NUL added. */
#ifndef FUSEBOX_DASHBOARD_ASSETS_H
#define FUSEBOX_DASHBOARD_ASSETS_H

extern const unsigned char dashboard_html[], dashboard_css[], dashboard_js[];
extern const unsigned int dashboard_html_len, dashboard_css_len, dashboard_js_len;

#endif
