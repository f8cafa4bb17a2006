// Precompiled header for the targets that use Asio/Beast (net, http, app). Keep these
// heavy headers out of every other header: include them only from .cpp files or from
// headers of the net/http layer.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
