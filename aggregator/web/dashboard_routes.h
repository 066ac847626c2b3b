#pragma once

// Serves the web dashboard from the aggregator's own origin: GET / (the page) and GET /ui/<file>
// (its script and style sheet). Public, like any login page: the data behind it comes from the
// /v1 API on the session cookie, with the CSRF token on every change.
//
// Every answer carries a strict Content-Security-Policy (only this origin's script and style; no
// inline code, no frames, no outside connections), nosniff and no-referrer. Files revalidate on
// every load (Cache-Control: no-cache) against a strong ETag of their bytes, so an upgraded
// binary is picked up at once and an unchanged file costs a 304.

#include "aggregator/http/server.h"

namespace faultline::aggregator::web {

/// The policy sent with every dashboard file.
inline constexpr std::string_view kDashboardCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds a GET route per embedded file to `router`.
void addDashboardRoutes(http::Router& router);

}  // namespace faultline::aggregator::web
