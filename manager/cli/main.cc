// v6guardctl: operator CLI for v6guardd (see `v6guardctl --help`).
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return v6g::cli::run(argc, argv, std::cout, std::cerr); }
