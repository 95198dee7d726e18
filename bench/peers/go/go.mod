module corio_bench

go 1.19
