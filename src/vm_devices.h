/* The PC platform's devices, created and destroyed together for a vm. */
#ifndef RINGFOLD_VM_DEVICES_H
#define RINGFOLD_VM_DEVICES_H

struct vm;

int vm_devices_create(struct vm *vm);
void vm_devices_destroy(struct vm *vm);

#endif
