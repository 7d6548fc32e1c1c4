/* SPDX-License-Identifier: Apache-2.0 */
/* The reactive_automation configuration section. */
#ifndef AU_CONFIG_H
#define AU_CONFIG_H

#include "vx_config.h"

#define AU_SECTION "reactive_automation"

extern const struct vx_cfg_section au_cfg_section;

#endif
