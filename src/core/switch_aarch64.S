/* Context switch for AArch64 (AAPCS64). A suspended context is its stack
 * pointer; above it a 176-byte frame: x19..x28, x29 (fp), x30 (lr),
 * d8..d15 and FPCR. Everything else is caller-saved. */
    .text

/* The load half of the switch: the frame at sp back into the registers. */
.macro SWITCH_LOAD
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
.endm

/* void corio__switch(void **save, void *load) */
    .globl corio__switch
    .hidden corio__switch
    .type corio__switch, %function
    .p2align 4
corio__switch:
    .cfi_startproc
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    SWITCH_LOAD
    ret
    .cfi_endproc
    .size corio__switch, .-corio__switch

/* void corio__switch_jmp(void **save, void *load): on x86-64 a variant that
 * resumes by an indirect jump. Here it is the same code: `ret` needs no
 * BTI landing pad at the resume address, `br` would. */
    .globl corio__switch_jmp
    .hidden corio__switch_jmp
    .set corio__switch_jmp, corio__switch

/* A fresh context starts here (corio__switch_start): x19 = arg, x20 = entry. entry
 * returns the saved sp of the context to resume; this one is over, so
 * only the load half of the switch runs, and its `ret` is predicted right
 * when entry never switched away (switch_x86_64.S says why). */
    .type corio__trampoline, %function
    .p2align 4
corio__trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov x0, x19
    blr x20
    mov sp, x0
    SWITCH_LOAD
    ret
    .cfi_endproc
    .size corio__trampoline, .-corio__trampoline

/* void corio__switch_start(void **save, void *top, void *(*entry)(void *), void *arg)
 * A task's first step: saves this context as corio__switch does, then
 * runs entry(arg) on the fresh stack whose top is `top`, through the
 * trampoline (fp cleared, so a frame walk ends there). */
    .globl corio__switch_start
    .hidden corio__switch_start
    .type corio__switch_start, %function
    .p2align 4
corio__switch_start:
    .cfi_startproc
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov x19, x3
    mov x20, x2
    mov x29, xzr
    and x9, x1, #~15
    mov sp, x9
    b corio__trampoline
    .cfi_endproc
    .size corio__switch_start, .-corio__switch_start

    .section .note.GNU-stack, "", %progbits
