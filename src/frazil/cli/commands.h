// Shared by the `frazil` subcommand files.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <functional>

#include "frazil/app/warehouse.h"
#include "frazil/base/result.h"

namespace frazil::cli {

// Prints `error: <message>` and returns the exit code for the error's kind.
int Fail(const Error& e);

// Opens the warehouse of the global options and runs `fn` with it, setting the exit code.
using WarehouseRunner = std::function<void(std::function<int(app::Warehouse&)>)>;

// `frazil models ...`: the SQL model project commands (models_cmd.cc).
void AddModelsCommand(CLI::App& app, const WarehouseRunner& with_warehouse);

// `frazil maintain ...`: table maintenance (maintain_cmd.cc).
void AddMaintainCommand(CLI::App& app, const WarehouseRunner& with_warehouse);

// `frazil assets`, `frazil runs ...`, `frazil materialize` (orchestrator_cmd.cc).
void AddOrchestratorCommands(CLI::App& app, const WarehouseRunner& with_warehouse);

// `frazil serve`: the Iceberg REST catalog server (serve_cmd.cc).
void AddServeCommand(CLI::App& app, const WarehouseRunner& with_warehouse);

// Set by SIGINT/SIGTERM once InstallStopHandlers() ran: long-running commands stop after the
// work in flight; a second signal exits at once.
std::atomic<bool>& StopFlag();
void InstallStopHandlers();

}  // namespace frazil::cli
